"""Events are claims: forged ones POSTed straight to the reconcile process of the Stack
change nothing on the real API server, and a ConfigMap a job does not own is never
overwritten or deleted. Who may send events at all is the authentication layer's
business (test_authenticated_events.py); these events carry a real token of a sender
reconcile expects, so they reach the checks of what an event says."""

from __future__ import annotations

import json
from typing import Any

import requests
import yaml

from qiskit_operator.events import payloads
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import to_binary
from qiskit_operator.local.stack import Stack
from tests.conftest import claimed_completion, example
from tests.e2e.test_authenticated_events import audience, issued, trigger_account
from tests.e2e.test_kubectl_apply import wait_phase


def get(stack: Stack, kind: str, name: str, namespace: str = "default") -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        stack.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout
    )
    return found


def post(stack: Stack, payload: payloads.Reply) -> requests.Response:
    """The event POSTed to reconcile itself by a sender it expects, which lies."""
    envelope = Envelope(
        type=payloads.TYPE_OF[type(payload)], source="/forger", data=payloads.encode(payload)
    )
    headers, body = to_binary(envelope)
    token = issued(stack, trigger_account("reconcile"), audience("reconcile"))
    headers["Authorization"] = f"Bearer {token}"
    return requests.post(stack.functions["reconcile"].url, data=body, headers=headers, timeout=30)


def completed(ref: payloads.JobRef, location: str | None) -> payloads.JobCompleted:
    return claimed_completion(
        ref, location, payloads.OutputRequest(type="configmap", location="victim-results"), 7
    )


def ref_of(job: dict[str, Any], **changed: Any) -> payloads.JobRef:
    meta = job["metadata"]
    fields = {
        "namespace": meta["namespace"],
        "name": meta["name"],
        "uid": meta["uid"],
        "generation": meta["generation"],
        **changed,
    }
    return payloads.JobRef(**fields)


def test_forged_rejections_and_completions_change_nothing_and_real_events_still_work(
    stack: Stack,
) -> None:
    manifest = example("bell.yaml")
    manifest["metadata"]["name"] = "claimed"
    manifest["spec"]["output"] = {"type": "configmap"}
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    wait_phase(stack, "claimed", "Completed")
    job = get(stack, "qjob", "claimed")
    results = get(stack, "configmap", "claimed-results")
    location = job["status"]["results"]["location"]

    forged = {
        "the job's own uid and generation": payloads.JobRejected(
            job=ref_of(job), reason="Forged", message="forged"
        ),
        "an empty uid": payloads.JobRejected(
            job=ref_of(job, uid=""), reason="Forged", message="forged"
        ),
        "a newer generation": payloads.JobRejected(
            job=ref_of(job, generation=2), reason="Forged", message="forged"
        ),
        "a made-up uid": completed(ref_of(job, uid="made-up"), location),
        "an older generation": completed(ref_of(job, generation=0), location),
    }
    answers = {what: post(stack, payload).status_code for what, payload in forged.items()}
    # Refused (400) when it cannot be true; ignored (202) when it is merely late.
    assert answers == {
        "the job's own uid and generation": 202,
        "an empty uid": 400,
        "a newer generation": 400,
        "a made-up uid": 400,
        "an older generation": 202,
    }, stack.logs()
    after = get(stack, "qjob", "claimed")
    assert after["metadata"]["resourceVersion"] == job["metadata"]["resourceVersion"]
    assert after["status"] == job["status"]
    assert get(stack, "configmap", "claimed-results") == results

    # The refused newer generation wedges nothing: the real generation 2 runs.
    manifest["spec"]["execution"]["shots"] = 200
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    stack.kubectl(
        "wait", "--for=jsonpath={.status.observedGeneration}=2", "qjob/claimed", "--timeout=90s"
    )
    wait_phase(stack, "claimed", "Completed")
    assert sum(get(stack, "qjob", "claimed")["status"]["results"]["counts"].values()) == 200
    # The job's own ConfigMap is replaced with generation 2's result (its owner tested).
    replaced = get(stack, "configmap", "claimed-results")
    assert replaced["metadata"]["ownerReferences"] == results["metadata"]["ownerReferences"]
    assert json.loads(replaced["data"]["result.json"])["shots"] == 200


def test_a_forged_completion_cannot_write_or_delete_another_namespaces_configmap(
    stack: Stack,
) -> None:
    stack.kubectl("create", "namespace", "victim")
    stack.kubectl("create", "configmap", "victim-results", "-n", "victim", "--from-literal=a=1")
    before = get(stack, "configmap", "victim-results", "victim")
    manifest = example("bell.yaml")
    manifest["metadata"]["name"] = "forger"
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    wait_phase(stack, "forger", "Completed")
    mine = get(stack, "qjob", "forger")
    for ref in (
        ref_of(mine, namespace="victim", name="victim"),  # no such job there
        ref_of(mine, namespace="victim", name="forger"),
    ):
        answer = post(stack, completed(ref, "file:///etc/hostname"))
        assert answer.status_code in (202, 400), answer.text
    # Nothing was written, so no owner was made up for the garbage collector to act on.
    assert get(stack, "configmap", "victim-results", "victim") == before


def test_a_configmap_the_job_does_not_own_is_never_overwritten_nor_deleted_with_it(
    stack: Stack,
) -> None:
    stack.kubectl("create", "configmap", "precious", "--from-literal=mode=production")
    before = get(stack, "configmap", "precious")
    manifest = example("bell.yaml")
    manifest["metadata"]["name"] = "squatter"
    manifest["spec"]["output"] = {"type": "configmap", "location": "precious"}
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    wait_phase(stack, "squatter", "Failed")
    message = get(stack, "qjob", "squatter")["status"]["message"]
    assert "ConfigMap default/precious already exists and is not owned by this job" in message
    assert "spec.output.location" in message
    assert get(stack, "configmap", "precious") == before
    stack.kubectl("delete", "qjob", "squatter", "--wait=true")
    after = get(stack, "configmap", "precious")
    assert after == before and "ownerReferences" not in after["metadata"]
