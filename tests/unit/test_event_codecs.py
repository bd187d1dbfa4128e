"""Events on the wire: binary and structured mode match the golden files, both ways."""

from __future__ import annotations

import json

import pytest

from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import job_from_event, resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import NotACloudEventError, from_request, to_binary, to_structured
from tests.conftest import GOLDEN, example

REF = payloads.JobRef(
    namespace="default", name="bell", uid="6c1f5e2a-0000-4000-8000-000000000001", generation=1
)
COMPLETED = payloads.JobCompleted(
    job=REF,
    counts={"00": 520, "11": 504},
    shots=1024,
    backend="aer_simulator",
    method="stabilizer",
    seed=5,
    transpiled=False,
    transpile_seconds=0.0001,
    execution_seconds=0.0019,
)
ENVELOPE = Envelope(
    type=types.JOB_COMPLETED,
    source="/qiskit-operator/execute",
    subject="default/bell",
    id="0b5c1d2e-golden",
    time="2026-11-27T05:00:00Z",
    data=payloads.encode(COMPLETED),
    extensions={
        "jobuid": REF.uid,
        "generation": "1",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    },
)


def golden(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((GOLDEN / name).read_text())
    return loaded


def test_binary_mode_matches_the_golden_request() -> None:
    headers, body = to_binary(ENVELOPE)
    expected = golden("job_completed.binary.json")
    assert headers == expected["headers"]
    assert body.decode() == expected["body"]


def test_structured_mode_matches_the_golden_request() -> None:
    headers, body = to_structured(ENVELOPE)
    expected = golden("job_completed.structured.json")
    assert headers == expected["headers"]
    assert json.loads(body) == expected["body"]


@pytest.mark.parametrize(
    "golden_file", ["job_completed.binary.json", "job_completed.structured.json"]
)
def test_both_modes_decode_back_to_the_same_event_and_payload(golden_file: str) -> None:
    request = golden(golden_file)
    body = request["body"]
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    decoded = from_request(request["headers"], raw)  # type: ignore[arg-type]
    assert decoded.type == ENVELOPE.type
    assert decoded.subject == "default/bell"
    assert decoded.extensions == ENVELOPE.extensions
    assert payloads.decode(decoded.type, decoded.data) == COMPLETED


def test_apiserver_source_add_event_decodes_to_a_typed_qiskit_job() -> None:
    request = golden("apiserver_add_bell.binary.json")
    event = from_request(request["headers"], str(request["body"]).encode())  # type: ignore[arg-type]
    job = job_from_event(event)
    assert event.type == types.APISERVER_ADD
    assert job.metadata.uid == REF.uid
    assert job.metadata.resourceVersion == "4242"
    assert job.spec.execution.shots == 1024
    assert "qc.cx(0, 1)" in (job.spec.circuit.code or "")


def test_local_source_event_has_the_same_attributes_as_the_adapters() -> None:
    request = golden("apiserver_add_bell.binary.json")
    adapter = from_request(request["headers"], str(request["body"]).encode())  # type: ignore[arg-type]
    manifest = example("bell.yaml")
    manifest["metadata"]["namespace"] = "default"
    ours = resource_event(manifest, types.APISERVER_ADD)
    assert ours.type == adapter.type
    assert ours.subject == adapter.subject
    assert ours.datacontenttype == adapter.datacontenttype
    assert ours.extensions == adapter.extensions


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"content-type": "application/json"}, b'{"hello": "world"}'),
        ({"content-type": "application/cloudevents+json"}, b"not json"),
        ({"ce-specversion": "1.0", "ce-type": "t"}, b"{}"),
    ],
)
def test_requests_that_are_not_cloud_events_are_refused(
    headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(NotACloudEventError):
        from_request(headers, body)


def test_payload_of_the_wrong_shape_is_a_payload_error() -> None:
    with pytest.raises(payloads.PayloadError, match="job"):
        payloads.decode(types.JOB_COMPLETED, b'{"counts": {}}')
    with pytest.raises(payloads.PayloadError, match="no payload"):
        payloads.decode("com.example.other", b"{}")
