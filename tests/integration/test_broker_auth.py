"""The dev Broker with sender identity on, over real HTTP: it delivers with each
Trigger's token, which the real function endpoints check, and it admits a reply only
where knative/eventpolicies.yaml lets that Trigger send its type.

Tokens are signed here with a key pair made for the test, as an API server would sign
them; tests/e2e/test_authenticated_events.py does the same against a real one.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flask
import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import BaseWSGIServer, make_server

from qiskit_operator.auth import identities
from qiskit_operator.auth.keys import DISCOVERY_PATH, IssuerKeys
from qiskit_operator.auth.policy import load_broker_policy
from qiskit_operator.auth.verifying import SenderVerifier
from qiskit_operator.events import types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import to_binary
from qiskit_operator.local.oidc import BROKER_AUDIENCE, JOB_SOURCE_IDENTITY, NAMESPACE
from qiskit_operator.routing.delivery import HttpSubscriber, Subscriber
from qiskit_operator.routing.ingress import BrokerServer
from qiskit_operator.routing.routes import Routes
from qiskit_operator.routing.senders import BrokerAuth, trigger_subject
from qiskit_operator.routing.triggers import Trigger, load_triggers
from qiskit_operator.serving import FunctionEndpoint
from tests.conftest import ROOT
from tests.serving import qop

ISSUER = "https://kubernetes.default.svc.cluster.local"
KNATIVE = ROOT / "knative"


@dataclass
class Issuer:
    """What the API server does for tokens: one signing key, published as a JWKS."""

    key: Any = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def get(self, path: str) -> Mapping[str, object]:
        if path == DISCOVERY_PATH:
            return {"issuer": ISSUER, "jwks_uri": "https://192.0.2.2:6443/openid/v1/jwks"}
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}

    def token(self, subject: str, audience: str) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": subject, "aud": [audience], "nbf": now, "exp": now + 600}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})

    def verifier(self, audience: str, senders: list[str]) -> SenderVerifier:
        return SenderVerifier(IssuerKeys(self), audience, senders)


@dataclass(frozen=True)
class IssuedFor:
    issuer: Issuer
    subject: str
    audience: str

    def token(self) -> str:
        return self.issuer.token(self.subject, self.audience)


@dataclass
class TriggerTokensSignedHere:
    """The TokenRequest API's answer for each Trigger's OIDC ServiceAccount."""

    issuer: Issuer

    def for_trigger(self, trigger: Trigger) -> IssuedFor | None:
        if trigger.subscriber_audience is None:
            return None
        return IssuedFor(self.issuer, trigger_subject(trigger), trigger.subscriber_audience)


class Function:
    """A function's real endpoint, checking tokens, with a handler that records and
    answers with whatever `reply` says."""

    def __init__(self, name: str, verifier: SenderVerifier) -> None:
        self.name = name
        self.seen: list[Envelope] = []
        self.reply: Callable[[Envelope], Envelope | None] = lambda _: None
        endpoint = FunctionEndpoint(name, self, metrics_addr="0", verifier=verifier)
        app = flask.Flask(f"test-{name}")
        app.add_url_rule("/", "event", lambda: endpoint(flask.request), methods=["GET", "POST"])
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def handle(self, event: Envelope) -> Envelope | None:
        self.seen.append(event)
        return self.reply(event)

    def ready(self) -> bool:
        return True

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def pipeline(issuer: Issuer) -> Iterator[tuple[BrokerServer, dict[str, Function]]]:
    triggers = load_triggers(KNATIVE / "triggers.yaml")
    functions = {}
    for service in ("qiskit-validate", "qiskit-execute", "qiskit-reconcile"):
        senders = [trigger_subject(t) for t in triggers if t.subscriber == service]
        audience = identities.service_audience(NAMESPACE, service)
        functions[service] = Function(service, issuer.verifier(audience, senders))
    subscribers: dict[str, Subscriber] = {
        name: HttpSubscriber(name, f.url) for name, f in functions.items()
    }
    auth = BrokerAuth(
        verifier=issuer.verifier(BROKER_AUDIENCE, []),
        policy=load_broker_policy(KNATIVE / "eventpolicies.yaml", "qiskit"),
        tokens=TriggerTokensSignedHere(issuer),
    )
    broker = BrokerServer(Routes(triggers, subscribers), auth=auth).start()
    yield broker, functions
    broker.stop()
    for function in functions.values():
        function.stop()


def job_added() -> Envelope:
    return Envelope(
        type=types.APISERVER_ADD,
        source="https://127.0.0.1:6443",
        subject="/apis/quantum.io/v1/namespaces/default/qiskitjobs/bell",
        extensions={"kind": "QiskitJob"},
        data=b"{}",
    )


def post(broker: BrokerServer, event: Envelope, token: str | None) -> requests.Response:
    headers, body = to_binary(event)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(broker.url, data=body, headers=headers, timeout=10)


def wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("the condition did not hold in time")


def source_token(issuer: Issuer) -> str:
    return issuer.token(identities.subject(NAMESPACE, JOB_SOURCE_IDENTITY), BROKER_AUDIENCE)


def test_each_trigger_delivers_with_a_token_its_function_accepts(
    pipeline: tuple[BrokerServer, dict[str, Function]], issuer: Issuer
) -> None:
    broker, functions = pipeline
    validated = Envelope(type=types.JOB_VALIDATED, source="/validate", data=b"{}")
    functions["qiskit-validate"].reply = lambda event: validated
    assert post(broker, job_added(), source_token(issuer)).status_code == 202
    # validate (its Trigger's token), then execute with validate's admitted reply; and
    # execute woken by the add itself, with the wake-up Trigger's token.
    wait_for(
        lambda: (
            sorted(e.type for e in functions["qiskit-execute"].seen)
            == [types.APISERVER_ADD, types.JOB_VALIDATED]
        )
    )
    assert [e.type for e in functions["qiskit-validate"].seen] == [types.APISERVER_ADD]
    assert types.APISERVER_ADD in [e.type for e in functions["qiskit-reconcile"].seen]
    assert broker.refused == []


def test_a_reply_its_trigger_may_not_send_is_refused_by_the_policy(
    pipeline: tuple[BrokerServer, dict[str, Function]], issuer: Issuer
) -> None:
    broker, functions = pipeline
    # validate's Trigger may send validated or rejected, never completed.
    completed = Envelope(type=types.JOB_COMPLETED, source="/validate", data=b"{}")
    functions["qiskit-validate"].reply = lambda event: completed
    assert post(broker, job_added(), source_token(issuer)).status_code == 202
    validate_trigger = identities.oidc_service_account(identities.TRIGGER, "validate-job-changes")
    wait_for(
        lambda: (
            broker.refused
            == [(identities.subject(NAMESPACE, validate_trigger), types.JOB_COMPLETED)]
        )
    )
    seen = [e.type for e in functions["qiskit-reconcile"].seen]
    assert types.JOB_COMPLETED not in seen


def test_the_ingress_refuses_validated_from_the_event_source(
    pipeline: tuple[BrokerServer, dict[str, Function]], issuer: Issuer
) -> None:
    broker, functions = pipeline
    forged = Envelope(type=types.JOB_VALIDATED, source="/forger", data=b"{}")
    answer = post(broker, forged, source_token(issuer))
    assert answer.status_code == 403
    assert types.JOB_VALIDATED in answer.json()["error"]
    assert post(broker, forged, None).status_code == 401
    wrong_audience = issuer.token(
        identities.subject(NAMESPACE, JOB_SOURCE_IDENTITY),
        identities.service_audience(NAMESPACE, "qiskit-execute"),
    )
    assert post(broker, forged, wrong_audience).status_code == 401
    assert broker.received == 0
    assert functions["qiskit-execute"].seen == []


def test_qop_broker_with_an_audience_but_no_event_policies_says_what_is_missing(
    tmp_path: Path,
) -> None:
    shutil.copy(KNATIVE / "triggers.yaml", tmp_path / "triggers.yaml")
    env = {
        **os.environ,
        "QOP_KNATIVE_DIR": str(tmp_path),
        "QOP_AUTH_AUDIENCE": BROKER_AUDIENCE,
    }
    subscribers = [
        f"--subscriber=qiskit-{name}=http://127.0.0.1:9/"
        for name in ("validate", "execute", "reconcile")
    ]
    done = qop("broker", "--port", "0", *subscribers, env=env, timeout=60)
    assert done.returncode == 2
    assert "eventpolicies.yaml" in done.stderr
    assert "Traceback" not in done.stderr


def test_qop_serve_refuses_an_audience_without_senders(tmp_path: Path) -> None:
    env = {**os.environ, "QOP_AUTH_AUDIENCE": "serving.knative.dev/service/ns/qiskit-execute"}
    done = qop("serve", "execute", "--port", "0", env=env, timeout=60)
    assert done.returncode == 2
    assert "QOP_AUTH_SENDERS" in done.stderr
    assert "Traceback" not in done.stderr
