"""Each function through functions-framework's own app, driven by its test client."""

from __future__ import annotations

import json
import time
from typing import Any
from unittest.mock import ANY

import flask
import functions_framework
import msgspec
import pytest

from qiskit_operator import wiring
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import from_request, to_binary, to_structured
from qiskit_operator.local.pipeline import admit
from qiskit_operator.models import Phase
from qiskit_operator.sandbox import confinement
from tests.conftest import ROOT, job_manifest


def app_for(function: str) -> flask.Flask:
    source = ROOT / "functions" / function / "main.py"
    app: flask.Flask = functions_framework.create_app(target=function, source=str(source))
    return app


@pytest.fixture(scope="module")
def validate_client() -> Any:
    client = app_for("validate").test_client()
    deadline = time.monotonic() + 60
    while client.get("/ready").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    return client


@pytest.fixture(scope="module")
def execute_client() -> Any:
    return app_for("execute").test_client()


@pytest.fixture(scope="module")
def reconcile_client() -> Any:
    return app_for("reconcile").test_client()


def post(client: Any, event: Envelope, structured: bool = False) -> Envelope | None:
    headers, body = to_structured(event) if structured else to_binary(event)
    response = client.post("/", data=body, headers=headers)
    assert response.status_code in (200, 202), response.get_data(as_text=True)
    if response.status_code == 202:
        return None
    assert response.headers["ce-specversion"] == "1.0"  # the reply is in binary mode
    return from_request(dict(response.headers), response.get_data())


@pytest.mark.parametrize("function", ["validate", "execute", "reconcile"])
def test_every_function_answers_health_and_ready(function: str, validate_client: Any) -> None:
    client = validate_client if function == "validate" else app_for(function).test_client()
    health = client.get("/health")
    assert health.status_code == 200
    assert health.get_json()["status"] == "healthy"
    assert health.get_json()["function"] == function
    assert client.get("/ready").status_code == 200
    # The original controller's probe paths, for a platform's probes that expect them.
    assert client.get("/healthz").get_json() == {**health.get_json(), "timestamp": ANY}
    assert client.get("/readyz").status_code == 200


def test_the_functions_that_run_untrusted_code_report_the_kernels_layers_in_force(
    validate_client: Any,
) -> None:
    offered = msgspec.to_builtins(confinement.available())
    for client in (validate_client, app_for("execute").test_client()):
        for path in ("/health", "/ready"):
            assert client.get(path).get_json()["isolation"] == offered
    # Reconcile runs no untrusted code: it reports no layers.
    assert "isolation" not in app_for("reconcile").test_client().get("/ready").get_json()
    assert set(offered) == {"landlock_abi", "seccomp", "rlimits"}


@pytest.mark.parametrize("function", ["validate", "execute", "reconcile"])
def test_a_request_that_is_not_a_cloud_event_gets_a_json_400(
    function: str, validate_client: Any
) -> None:
    client = validate_client if function == "validate" else app_for(function).test_client()
    response = client.post("/", data=b'{"code": "x"}', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "CloudEvent" in response.get_json()["error"]


@pytest.mark.parametrize("structured", [False, True])
def test_validate_replies_validated_with_metadata_in_either_mode(
    validate_client: Any, structured: bool
) -> None:
    event = resource_event(admit(job_manifest()), types.APISERVER_ADD)
    reply = post(validate_client, event, structured)
    assert reply is not None and reply.type == types.JOB_VALIDATED
    assert reply.subject == event.subject
    payload = payloads.decode(reply.type, reply.data)
    assert isinstance(payload, payloads.JobValidated)
    assert payload.metadata.qubits == 2
    assert payload.metadata.gate_types == {"cx": 1, "h": 1, "measure": 2}


def test_validate_rejects_a_syntax_error_with_its_line(validate_client: Any) -> None:
    bad = job_manifest(code="from qiskit import QuantumCircuit\nqc = QuantumCircuit(2\n")
    reply = post(validate_client, resource_event(admit(bad), types.APISERVER_ADD))
    assert reply is not None and reply.type == types.JOB_REJECTED
    payload = payloads.decode(reply.type, reply.data)
    assert isinstance(payload, payloads.JobRejected)
    assert payload.line == 2 and "never closed" in payload.message


def test_validate_rejects_an_invalid_spec_naming_the_field(validate_client: Any) -> None:
    reply = post(validate_client, resource_event(admit(job_manifest(shots=0)), types.APISERVER_ADD))
    assert reply is not None and reply.type == types.JOB_REJECTED
    assert "spec.execution.shots" in json.loads(reply.data)["message"]


def test_validate_ignores_updates_of_a_generation_it_has_seen(validate_client: Any) -> None:
    obj = admit(job_manifest())
    obj["status"] = {"phase": "Validating", "observedGeneration": 1}
    assert post(validate_client, resource_event(obj, types.APISERVER_UPDATE)) is None


def test_execute_runs_the_validated_circuit_and_reports_counts(
    validate_client: Any, execute_client: Any
) -> None:
    validated = post(
        validate_client, resource_event(admit(job_manifest(seed=11)), types.APISERVER_ADD)
    )
    assert validated is not None
    reply = post(execute_client, validated)
    assert reply is not None and reply.type == types.JOB_COMPLETED
    payload = payloads.decode(reply.type, reply.data)
    assert isinstance(payload, payloads.JobCompleted)
    assert set(payload.counts) == {"00", "11"} and sum(payload.counts.values()) == 1024
    assert reply.extension("jobuid") == validated.extension("jobuid")


def test_reconcile_writes_status_and_replies_finished_once(
    validate_client: Any, execute_client: Any, reconcile_client: Any
) -> None:
    obj = admit(job_manifest(name="reconciled"))
    from qiskit_operator.models import QiskitJob

    store = wiring.memory_store()
    store.add(QiskitJob.model_validate(obj))
    added = resource_event(obj, types.APISERVER_ADD)
    assert post(reconcile_client, added) is None
    validated = post(validate_client, added)
    assert validated is not None
    completed = post(execute_client, validated)
    assert completed is not None
    assert post(reconcile_client, validated) is None
    finished = post(reconcile_client, completed)
    assert finished is not None and finished.type == types.JOB_FINISHED
    assert post(reconcile_client, completed) is None  # the duplicate changes nothing
    job = store.get("default/reconciled")
    assert job is not None and job.status is not None
    assert job.status.phase is Phase.COMPLETED
    assert job.status.results is not None and job.status.results.shots == 1024


def test_reconciles_dead_letter_sink_fails_the_job_saying_where_delivery_failed(
    reconcile_client: Any,
) -> None:
    obj = admit(job_manifest(name="dead-lettered"))
    from qiskit_operator.models import QiskitJob

    store = wiring.memory_store()
    store.add(QiskitJob.model_validate(obj))
    undelivered = resource_event(obj, types.APISERVER_ADD)
    headers, body = to_binary(undelivered)
    headers.update(
        {
            "ce-knativeerrordest": "http://qiskit-validate.qiskit-operator.svc/",
            "ce-knativeerrorcode": "503",
        }
    )
    answer = reconcile_client.post("/dead-letter", data=body, headers=headers)
    assert answer.status_code == 200  # it replies job.finished
    job = store.get("default/dead-lettered")
    assert job is not None and job.status is not None
    assert job.status.phase is Phase.FAILED
    assert "qiskit-validate" in (job.status.message or "")
    assert "503" in (job.status.message or "")


def test_an_event_that_could_not_reach_reconcile_is_handled_when_it_arrives(
    reconcile_client: Any,
) -> None:
    obj = admit(job_manifest(name="late-for-reconcile"))
    from qiskit_operator.models import QiskitJob

    store = wiring.memory_store()
    store.add(QiskitJob.model_validate(obj))
    headers, body = to_binary(resource_event(obj, types.APISERVER_ADD))
    headers["ce-knativeerrordest"] = "http://qiskit-reconcile.qiskit-operator.svc/"
    assert reconcile_client.post("/dead-letter", data=body, headers=headers).status_code == 202
    job = store.get("default/late-for-reconcile")
    assert job is not None and job.status is not None
    assert job.status.phase is Phase.VALIDATING
