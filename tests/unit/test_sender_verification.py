"""The sender verifier with keys made here: what it accepts, what it refuses, and why."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import flask
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from qiskit_operator import metrics
from qiskit_operator.auth.keys import DISCOVERY_PATH, IssuerKeys
from qiskit_operator.auth.verifying import SenderRefusedError, SenderVerifier, sender_verifier
from qiskit_operator.errors import UserError
from qiskit_operator.events import types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import to_binary
from qiskit_operator.sandbox import pool as sandboxing
from qiskit_operator.serving import FunctionEndpoint
from qiskit_operator.settings import AuthSettings, Settings
from tests.conftest import Counted

ISSUER = "https://kubernetes.default.svc.cluster.local"
AUDIENCE = "serving.knative.dev/service/qiskit-operator/qiskit-execute"
SENDER = (
    "system:serviceaccount:qiskit-operator:execute-validated-jobs-oidc-eventing.knative.dev-trigger"
)


class Published:
    """An issuer's documents, as the API server would serve them; counts key fetches."""

    def __init__(self, keys: Mapping[str, Any]) -> None:
        self.keys = dict(keys)
        self.key_fetches = 0

    def get(self, path: str) -> Mapping[str, object]:
        if path == DISCOVERY_PATH:
            # The advertised address, which need not be reachable: only its path counts.
            return {"issuer": ISSUER, "jwks_uri": "https://10.0.0.1:6443/openid/v1/jwks"}
        assert path == "/openid/v1/jwks"
        self.key_fetches += 1
        return {"keys": [public_jwk(key, kid) for kid, key in self.keys.items()]}


def public_jwk(key: Any, kid: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else None
    if algorithm is None:
        document = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        document["alg"] = "ES256"
    else:
        document = json.loads(algorithm.to_jwk(key.public_key()))
        document["alg"] = "RS256"
    return {**document, "kid": kid, "use": "sig"}


def token(key: Any, kid: str, algorithm: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": [AUDIENCE], "sub": SENDER, "iat": now, "nbf": now}
    body["exp"] = now + 600
    body.update(claims)
    return jwt.encode(body, key, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def published(rsa_key: Any, ec_key: Any) -> Published:
    return Published({"rsa-1": rsa_key, "ec-1": ec_key})


@pytest.fixture
def verifier(published: Published) -> SenderVerifier:
    return SenderVerifier(IssuerKeys(published), AUDIENCE, [SENDER])


def refusal(verifier: SenderVerifier, header: str | None) -> SenderRefusedError:
    with pytest.raises(SenderRefusedError) as refused:
        verifier.sender(header)
    return refused.value


def test_an_rs256_token_from_an_expected_sender_is_accepted(
    verifier: SenderVerifier, rsa_key: Any
) -> None:
    assert verifier.sender(f"Bearer {token(rsa_key, 'rsa-1')}") == SENDER


def test_an_es256_token_is_accepted_too(verifier: SenderVerifier, ec_key: Any) -> None:
    assert verifier.sender(f"Bearer {token(ec_key, 'ec-1', 'ES256')}") == SENDER


def test_an_audience_list_holding_ours_among_others_is_accepted(
    verifier: SenderVerifier, rsa_key: Any
) -> None:
    good = token(rsa_key, "rsa-1", aud=["https://kubernetes.default.svc", AUDIENCE])
    assert verifier.sender(f"Bearer {good}") == SENDER


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer  "])
def test_no_token_is_a_401_that_names_the_audience(
    verifier: SenderVerifier, header: str | None
) -> None:
    refused = refusal(verifier, header)
    assert (refused.status, refused.reason) == (401, "no_token")
    assert AUDIENCE in refused.message


def test_hs256_signed_with_a_public_key_is_refused(verifier: SenderVerifier) -> None:
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": SENDER, "exp": int(time.time()) + 60},
        "a-shared-secret-anyone-could-know-32b",
        algorithm="HS256",
        headers={"kid": "rsa-1"},
    )
    refused = refusal(verifier, f"Bearer {forged}")
    assert (refused.status, refused.reason) == (401, "algorithm")


def test_an_unsigned_token_is_refused(verifier: SenderVerifier) -> None:
    unsigned = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": SENDER, "exp": int(time.time()) + 60},
        None,
        algorithm="none",
    )
    refused = refusal(verifier, f"Bearer {unsigned}")
    assert (refused.status, refused.reason) == (401, "algorithm")


def test_a_token_for_another_audience_is_refused(verifier: SenderVerifier, rsa_key: Any) -> None:
    other = token(rsa_key, "rsa-1", aud=["serving.knative.dev/service/qiskit-operator/other"])
    refused = refusal(verifier, f"Bearer {other}")
    assert (refused.status, refused.reason) == (401, "audience")


def test_an_expired_token_is_refused(verifier: SenderVerifier, rsa_key: Any) -> None:
    old = int(time.time()) - 3600
    expired = token(rsa_key, "rsa-1", iat=old - 600, nbf=old - 600, exp=old)
    refused = refusal(verifier, f"Bearer {expired}")
    assert (refused.status, refused.reason) == (401, "expired")


def test_a_token_not_valid_yet_is_refused(verifier: SenderVerifier, rsa_key: Any) -> None:
    later = int(time.time()) + 3600
    early = token(rsa_key, "rsa-1", nbf=later, exp=later + 600)
    assert refusal(verifier, f"Bearer {early}").status == 401


def test_a_token_from_another_issuer_is_refused(verifier: SenderVerifier, rsa_key: Any) -> None:
    elsewhere = token(rsa_key, "rsa-1", iss="https://another-cluster.example")
    refused = refusal(verifier, f"Bearer {elsewhere}")
    assert (refused.status, refused.reason) == (401, "issuer")


def test_a_token_signed_with_another_key_under_a_known_key_id_is_refused(
    verifier: SenderVerifier,
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = refusal(verifier, f"Bearer {token(stranger, 'rsa-1')}")
    assert (refused.status, refused.reason) == (401, "invalid")


def test_a_good_token_from_a_sender_not_expected_is_a_403(
    verifier: SenderVerifier, rsa_key: Any
) -> None:
    intruder = "system:serviceaccount:default:default"
    refused = refusal(verifier, f"Bearer {token(rsa_key, 'rsa-1', sub=intruder)}")
    assert (refused.status, refused.reason) == (403, "unexpected_sender")
    assert intruder in refused.message


def test_a_token_without_a_subject_is_refused(verifier: SenderVerifier, rsa_key: Any) -> None:
    now = int(time.time())
    anonymous = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 60},
        rsa_key,
        algorithm="RS256",
        headers={"kid": "rsa-1"},
    )
    assert refusal(verifier, f"Bearer {anonymous}").status == 401


def test_garbage_is_refused_as_not_a_jwt(verifier: SenderVerifier) -> None:
    refused = refusal(verifier, "Bearer not.a.jwt")
    assert (refused.status, refused.reason) == (401, "malformed")


def test_keys_are_fetched_once_and_cached(
    verifier: SenderVerifier, published: Published, rsa_key: Any
) -> None:
    for _ in range(3):
        verifier.sender(f"Bearer {token(rsa_key, 'rsa-1')}")
    assert published.key_fetches == 1


def test_a_rotated_key_is_fetched_when_a_token_names_it(published: Published, rsa_key: Any) -> None:
    clock = [100.0]
    verifier = SenderVerifier(
        IssuerKeys(published, refetch_after_seconds=10, clock=lambda: clock[0]), AUDIENCE, [SENDER]
    )
    verifier.sender(f"Bearer {token(rsa_key, 'rsa-1')}")
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    published.keys["rsa-2"] = rotated
    clock[0] += 11
    assert verifier.sender(f"Bearer {token(rotated, 'rsa-2')}") == SENDER
    assert published.key_fetches == 2


def test_unknown_key_ids_do_not_make_a_fetch_each(published: Published, rsa_key: Any) -> None:
    clock = [100.0]
    verifier = SenderVerifier(
        IssuerKeys(published, refetch_after_seconds=10, clock=lambda: clock[0]), AUDIENCE, [SENDER]
    )
    verifier.sender(f"Bearer {token(rsa_key, 'rsa-1')}")
    for n in range(5):
        refused = refusal(verifier, f"Bearer {token(rsa_key, f'forged-{n}')}")
        assert (refused.status, refused.reason) == (401, "unknown_key")
    assert published.key_fetches == 1


def test_no_audience_set_means_no_verifier_and_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert sender_verifier(AuthSettings(), "execute") is None
    assert "QOP_AUTH_AUDIENCE" in caplog.text


def test_an_audience_without_senders_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="QOP_AUTH_SENDERS"):
        sender_verifier(AuthSettings(audience=AUDIENCE), "execute")


def test_the_settings_read_the_senders_as_a_comma_separated_list() -> None:
    settings = Settings.from_env(
        {"QOP_AUTH_AUDIENCE": AUDIENCE, "QOP_AUTH_SENDERS": f" {SENDER} , system:x ,"}
    ).auth
    assert settings.audience == AUDIENCE
    assert settings.senders == {SENDER, "system:x"}


class Recorder:
    """A handler that remembers what reached it."""

    def __init__(self) -> None:
        self.handled: list[Envelope] = []

    def handle(self, event: Envelope) -> Envelope | None:
        self.handled.append(event)
        return None

    def ready(self) -> bool:
        return True


def endpoint_client(verifier: SenderVerifier) -> tuple[Any, Recorder]:
    recorder = Recorder()
    endpoint = FunctionEndpoint("execute", recorder, metrics_addr="", verifier=verifier)
    app = flask.Flask("auth-test")

    @app.route("/", methods=["GET", "POST"])
    def serve() -> flask.Response:
        return endpoint(flask.request)

    return app.test_client(), recorder


def post_event(client: Any, authorization: str | None) -> Any:
    headers, body = to_binary(Envelope(type=types.JOB_VALIDATED, source="/tests", data=b"{}"))
    if authorization is not None:
        headers["Authorization"] = authorization
    return client.post("/", data=body, headers=headers)


def test_the_endpoint_answers_401_before_handling_and_counts_it(
    verifier: SenderVerifier,
) -> None:
    client, recorder = endpoint_client(verifier)
    with Counted(
        "qop_event_senders_refused_total", function="execute", code="401", reason="no_token"
    ) as refused:
        answer = post_event(client, None)
    assert answer.status_code == 401
    assert "Bearer" in answer.get_json()["error"]
    assert recorder.handled == []
    assert refused.by == 1


def test_the_endpoint_answers_403_to_a_sender_it_does_not_expect(
    verifier: SenderVerifier, rsa_key: Any
) -> None:
    client, recorder = endpoint_client(verifier)
    intruder = token(rsa_key, "rsa-1", sub="system:serviceaccount:default:default")
    with Counted(
        "qop_event_senders_refused_total",
        function="execute",
        code="403",
        reason="unexpected_sender",
    ) as refused:
        assert post_event(client, f"Bearer {intruder}").status_code == 403
    assert recorder.handled == []
    assert refused.by == 1


def test_the_endpoint_handles_an_event_from_an_expected_sender(
    verifier: SenderVerifier, rsa_key: Any
) -> None:
    client, recorder = endpoint_client(verifier)
    assert post_event(client, f"Bearer {token(rsa_key, 'rsa-1')}").status_code == 202
    assert [e.type for e in recorder.handled] == [types.JOB_VALIDATED]


def test_the_sandbox_inherits_no_token_path_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("QOP_AUTH_API_TOKEN_FILE", "QOP_AUTH_API_CA_FILE", "KUBECONFIG"):
        monkeypatch.setenv(name, "/var/run/secrets/kubernetes.io/serviceaccount/token")
    child = sandboxing._zygote_environment()
    assert not any("secrets" in value or "token" in value.lower() for value in child.values())


def test_an_endpoint_that_checks_senders_shows_its_refusals_at_zero_from_the_start(
    verifier: SenderVerifier,
) -> None:
    endpoint_client(verifier)
    body, _ = metrics.exposition(None)
    for labels in (
        'code="401",function="execute",reason="no_token"',
        'code="403",function="execute",reason="unexpected_sender"',
    ):
        assert f"qop_event_senders_refused_total{{{labels}}}" in body.decode()
