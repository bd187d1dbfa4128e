"""Hardware jobs that outlive a request, on the fake provider whose jobs complete
later: submitted once whatever is redelivered or restarted, observed on the ping,
cancelled on delete, failed with a message for each provider error."""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qiskit_operator.circuits.serialization import to_qpy
from qiskit_operator.events import payloads, types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.executing import Executor
from qiskit_operator.hardware.credentials import MemorySecrets
from qiskit_operator.hardware.records import RecordStore
from qiskit_operator.local.pipeline import LocalPipeline
from qiskit_operator.models import Phase
from qiskit_operator.providers.fake_remote import FakeRemoteProvider
from qiskit_operator.results import ResultStore
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore
from tests.conftest import example

REF = payloads.JobRef(namespace="default", name="bell-remote", uid="uid-1", generation=1)
SECRETS = MemorySecrets({("default", "qiskit-credentials"): {"token": "fake-token-tests"}})


def new_executor(results: Path) -> Executor:
    return Executor(ResultStore(results), secrets=SECRETS)


@pytest.fixture(scope="module")
def pipeline() -> Iterator[LocalPipeline]:
    with LocalPipeline(Settings.from_env(), store=MemoryStatusStore()) as running:
        yield running


def remote_job(name: str, device: str = "fake_remote", **execution: object) -> dict[str, object]:
    manifest = copy.deepcopy(example("hardware-job.yaml"))
    manifest["metadata"]["name"] = name
    manifest["spec"]["backend"]["name"] = device
    manifest["spec"]["execution"].update(execution)
    return manifest


def validated_work(device: str = "fake_remote", limit: float | None = None) -> Envelope:
    from qiskit import QuantumCircuit

    bell = QuantumCircuit(2, 2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure([0, 1], [0, 1])
    work = payloads.JobValidated(
        job=REF,
        circuit_qpy=base64.b64encode(to_qpy(bell)).decode(),
        format="qasm2",
        metadata=payloads.CircuitSummary(
            hash="h", qubits=2, clbits=2, depth=3, size=4, gate_types={}, two_qubit_gates=1,
            parameters=[],
        ),
        backend=device,
        execution=payloads.ExecutionRequest(
            shots=100, optimization_level=1, seed=5, family="fake_remote", device=device,
            max_execution_seconds=limit,
            credentials=payloads.CredentialsRequest(
                namespace="default", name="qiskit-credentials", explicit=False
            ),
        ),
        estimated_cost=None,
        validation_seconds=0.0,
    )  # fmt: skip
    return Envelope(type=types.JOB_VALIDATED, source="test", data=payloads.encode(work))


def provider_jobs(results: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in (results / ".fake-provider").glob("*.json")]


def submitted(reply: Envelope | None) -> payloads.JobSubmitted:
    assert reply is not None and reply.type == types.JOB_SUBMITTED, reply
    answer = payloads.decode(reply.type, reply.data)
    assert isinstance(answer, payloads.JobSubmitted)
    return answer


def test_a_hardware_job_is_queued_with_its_job_id_then_runs_then_completes(
    pipeline: LocalPipeline,
) -> None:
    job = pipeline.run(remote_job("bell-remote"))
    assert job.status is not None and job.status.phase is Phase.COMPLETED, job.status.message
    assert job.status.job_id is not None and job.status.job_id.startswith("fake-")
    counts = job.status.results.counts if job.status.results else None
    assert counts is not None and set(counts) == {"00", "11"}


def test_a_redelivered_submission_answers_the_same_job_id_and_submits_once(
    tmp_path: Path,
) -> None:
    executor = new_executor(tmp_path)
    first = submitted(executor.handle(validated_work()))
    again = submitted(executor.handle(validated_work()))  # the reply was lost: redelivered
    assert again.job_id == first.job_id
    assert len(provider_jobs(tmp_path)) == 1


def test_a_crash_between_the_submit_and_the_record_never_submits_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = new_executor(tmp_path)
    real_write = RecordStore.write
    writes: list[str] = []

    def dies_after_the_submit(self: RecordStore, record: object) -> None:
        writes.append("write")
        if len(writes) == 2:  # the intent was written, then the provider took the job
            raise OSError("execute was killed here")
        real_write(self, record)  # type: ignore[arg-type]

    monkeypatch.setattr(RecordStore, "write", dies_after_the_submit)
    with pytest.raises(OSError, match="killed"):
        executor.handle(validated_work())
    monkeypatch.setattr(RecordStore, "write", real_write)
    restarted = new_executor(tmp_path)  # a new process, the same volume
    answer = submitted(restarted.handle(validated_work()))
    jobs = provider_jobs(tmp_path)
    assert [job["id"] for job in jobs] == [answer.job_id]


def test_a_restarted_execute_polls_the_job_to_completion_exactly_once(tmp_path: Path) -> None:
    first = submitted(new_executor(tmp_path).handle(validated_work()))
    restarted = new_executor(tmp_path)
    records = RecordStore(tmp_path)
    poll = Envelope(type=types.HARDWARE_POLL, source="test", data=b"{}")
    deadline = time.monotonic() + 60
    while records.outstanding():
        assert time.monotonic() < deadline, "the fake provider's job never completed"
        restarted.handle(poll)
        time.sleep(0.2)
    record = records.read(REF)
    assert record is not None and record.state == "completed" and record.job_id == first.job_id
    assert record.completed is not None and sum((record.completed.counts or {}).values()) == 100
    assert restarted.hardware.poll() == 0  # nothing left to observe, nothing run again
    assert len(provider_jobs(tmp_path)) == 1


def test_deleting_the_job_cancels_its_provider_job(tmp_path: Path) -> None:
    executor = new_executor(tmp_path)
    answer = submitted(executor.handle(validated_work()))
    obj = {"apiVersion": "quantum.io/v1", "kind": "QiskitJob", "metadata": {
        "name": REF.name, "namespace": REF.namespace, "uid": REF.uid, "generation": 1}}  # fmt: skip
    executor.handle(
        Envelope(type=types.APISERVER_DELETE, source="test", data=json.dumps(obj).encode())
    )
    provider = FakeRemoteProvider(tmp_path / ".fake-provider")
    assert provider.status(answer.job_id).state == "cancelled"
    assert RecordStore(tmp_path).read(REF) is None  # nothing of it left on the volume


@pytest.mark.parametrize(
    ("device", "reason", "words"),
    [
        ("fake_remote_offline", "DeviceOffline", "is offline for maintenance"),
        ("fake_remote_full", "QueueFull", "the queue of fake_remote_full is full"),
        ("fake_remote_fails", "RemoteJobFailed", "reported a calibration error mid-run"),
    ],
)
def test_each_provider_error_ends_the_job_failed_with_a_message(
    pipeline: LocalPipeline, device: str, reason: str, words: str
) -> None:
    job = pipeline.run(remote_job(device.replace("_", "-"), device))
    assert job.status is not None and job.status.phase is Phase.FAILED
    assert words in (job.status.message or "")
    failed = next(c for c in job.status.conditions if c.type == "Completed")
    assert failed.reason == reason


def test_a_job_past_its_max_execution_time_is_cancelled_and_fails_saying_so(
    pipeline: LocalPipeline,
) -> None:
    job = pipeline.run(remote_job("too-slow", maxExecutionTime="1s"))
    assert job.status is not None and job.status.phase is Phase.FAILED
    assert "did not finish within execution.maxExecutionTime (1 s" in (job.status.message or "")
    assert job.status.job_id is not None
