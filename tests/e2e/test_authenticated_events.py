"""Forged events change nothing: on the real API server, each function and the Broker
refuse events without a valid token from a sender they expect (docs/security.md).

The review's attack first: a `job.rejected` naming a real job's uid and generation,
POSTed to reconcile, used to fail the job with the sender's message. Then every kind
of bad token at every function: none, another audience, another sender, expired,
signed by a key pair of another issuer. The Broker's EventPolicies
(knative/eventpolicies.yaml) admit `job.validated` only from validate's Trigger.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from qiskit_operator.auth import identities
from qiskit_operator.events import payloads, types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import to_binary
from qiskit_operator.local.devcluster import ISSUER
from qiskit_operator.local.oidc import (
    BROKER_AUDIENCE,
    JOB_SOURCE_IDENTITY,
    NAMESPACE,
    PING_IDENTITY,
)
from qiskit_operator.local.stack import Stack, ping_event
from tests.conftest import job_manifest
from tests.e2e.test_kubectl_apply import wait_phase

FUNCTIONS = ("validate", "execute", "reconcile")
# The Trigger each function expects its events from (knative/triggers.yaml).
EXPECTED = {
    "validate": "validate-job-changes",
    "execute": "execute-validated-jobs",
    "reconcile": "reconcile-job-outcomes",
}


def audience(function: str) -> str:
    return identities.service_audience(NAMESPACE, f"qiskit-{function}")


def trigger_account(function: str) -> str:
    return identities.oidc_service_account(identities.TRIGGER, EXPECTED[function])


def issued(stack: Stack, account: str, for_audience: str) -> str:
    """A real token the API server issues for `account` and `for_audience`."""
    return stack.kubectl(
        "create",
        "token",
        account,
        "-n",
        NAMESPACE,
        "--audience",
        for_audience,
        "--duration",
        "10m",
    ).stdout.strip()


def signed(key: Any, kid: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iat": now, "nbf": now, "exp": now + 600, **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def cluster_key(stack: Stack) -> tuple[Any, str]:
    """The API server's own signing key and its key id, to forge what only time
    makes invalid (an expired token)."""
    key = load_pem_private_key((stack.cluster.workdir / "pki" / "sa.key").read_bytes(), None)
    keys = json.loads(stack.kubectl("get", "--raw", "/openid/v1/jwks").stdout)["keys"]
    return key, keys[0]["kid"]


@pytest.fixture(scope="module")
def job(stack: Stack) -> Iterator[dict[str, Any]]:
    """A real job, Completed, whose uid and generation the forged events name."""
    manifest = job_manifest("authenticated-bell")
    stack.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    wait_phase(stack, "authenticated-bell", "Completed")
    yield json.loads(stack.kubectl("get", "qjob", "authenticated-bell", "-o", "json").stdout)
    stack.kubectl("delete", "qjob", "authenticated-bell", "--wait=false", check=False)


def forged_rejection(job: dict[str, Any]) -> Envelope:
    """The review's attack: a rejection naming the real job."""
    meta = job["metadata"]
    ref = payloads.JobRef(
        namespace=meta["namespace"],
        name=meta["name"],
        uid=meta["uid"],
        generation=meta["generation"],
    )
    rejected = payloads.JobRejected(job=ref, reason="Forged", message="owned by a forger")
    return Envelope(
        type=types.JOB_REJECTED,
        source="/forger",
        subject=f"/apis/quantum.io/v1/namespaces/{ref.namespace}/qiskitjobs/{ref.name}",
        data=payloads.encode(rejected),
        extensions={"jobuid": ref.uid, "generation": str(ref.generation)},
    )


def post(url: str, event: Envelope, token: str | None) -> requests.Response:
    headers, body = to_binary(event)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(url, data=body, headers=headers, timeout=30)


def bad_tokens(stack: Stack, function: str, cluster_key: tuple[Any, str]) -> dict[str, str | None]:
    key, kid = cluster_key
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sender = identities.subject(NAMESPACE, trigger_account(function))
    other = "execute" if function != "execute" else "validate"
    past = int(time.time()) - 3600
    return {
        "no token": None,
        "another audience": issued(stack, trigger_account(function), audience(other)),
        "another sender": issued(stack, JOB_SOURCE_IDENTITY, audience(function)),
        "expired": signed(
            key,
            kid,
            iss=ISSUER,
            aud=[audience(function)],
            sub=sender,
            iat=past - 600,
            nbf=past - 600,
            exp=past,
        ),
        "another issuer": signed(
            stranger,
            "forger-key",
            iss="https://forger.example",
            aud=[audience(function)],
            sub=sender,
        ),
        "another issuer's key under this cluster's key id": signed(
            stranger, kid, iss=ISSUER, aud=[audience(function)], sub=sender
        ),
    }


EXPECTED_STATUS = {
    "no token": 401,
    "another audience": 401,
    "another sender": 403,
    "expired": 401,
    "another issuer": 401,
    "another issuer's key under this cluster's key id": 401,
}


def test_a_forged_rejection_of_a_real_job_changes_nothing(
    stack: Stack, job: dict[str, Any], cluster_key: tuple[Any, str]
) -> None:
    url = stack.functions["reconcile"].url
    for path in ("", "dead-letter"):
        for what, token in bad_tokens(stack, "reconcile", cluster_key).items():
            answer = post(url + path, forged_rejection(job), token)
            assert answer.status_code == EXPECTED_STATUS[what], (path, what, answer.text)
            assert "error" in answer.json()
    after = json.loads(stack.kubectl("get", "qjob", job["metadata"]["name"], "-o", "json").stdout)
    assert after["status"] == job["status"]
    assert after["metadata"]["resourceVersion"] == job["metadata"]["resourceVersion"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_refuses_every_kind_of_bad_token(
    stack: Stack, function: str, job: dict[str, Any], cluster_key: tuple[Any, str]
) -> None:
    event = forged_rejection(job)
    for what, token in bad_tokens(stack, function, cluster_key).items():
        answer = post(stack.functions[function].url, event, token)
        assert answer.status_code == EXPECTED_STATUS[what], (function, what, answer.text)
        assert "ce-type" not in answer.headers  # nothing was handled, nothing replied


def test_refusals_are_counted_by_code_and_reason(stack: Stack) -> None:
    url = stack.functions["execute"].url
    assert post(url, ping_event(), None).status_code == 401
    metrics = requests.get(url + "metrics", timeout=30).text
    assert 'qop_event_senders_refused_total{code="401",function="execute",reason="no_token"}' in (
        metrics
    )


def test_an_expected_senders_token_is_accepted(stack: Stack) -> None:
    """The control: reconcile's resync Trigger, with a real token, gets its ping handled."""
    account = identities.oidc_service_account(identities.TRIGGER, "reconcile-resync")
    answer = post(
        stack.functions["reconcile"].url,
        ping_event(),
        issued(stack, account, audience("reconcile")),
    )
    assert answer.status_code in (200, 202), answer.text


def test_validates_public_api_needs_no_token(stack: Stack) -> None:
    answer = requests.post(
        stack.functions["validate"].url + "validate",
        json={"code": 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nh q[0];'},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text


def validated_event(job: dict[str, Any]) -> Envelope:
    meta = job["metadata"]
    return Envelope(
        type=types.JOB_VALIDATED,
        source="/forger",
        subject=f"/apis/quantum.io/v1/namespaces/{meta['namespace']}/qiskitjobs/{meta['name']}",
        data=b"{}",
    )


def test_the_broker_refuses_a_validated_event_from_anyone_but_validate(
    stack: Stack, job: dict[str, Any]
) -> None:
    assert stack.broker is not None
    received = stack.broker.received
    # A real token of the Broker's audience, but from the event source: no
    # EventPolicy lets it send job.validated, so execute never sees it.
    answer = post(
        stack.broker.url, validated_event(job), issued(stack, JOB_SOURCE_IDENTITY, BROKER_AUDIENCE)
    )
    assert answer.status_code == 403, answer.text
    assert "EventPolicy" in answer.json()["error"]
    assert post(stack.broker.url, validated_event(job), None).status_code == 401
    assert stack.broker.received == received  # neither was published


def test_the_broker_admits_what_a_policy_allows(stack: Stack) -> None:
    assert stack.broker is not None
    answer = post(stack.broker.url, ping_event(), issued(stack, PING_IDENTITY, BROKER_AUDIENCE))
    assert answer.status_code == 202, answer.text
