"""Cancel reaches a simulation while it runs: execute kills the worker process that runs
it, at once, and work of a cancelled job that is still to come never starts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from qiskit.circuit.library import quantum_volume

from qiskit_operator.circuits.work import validated_work
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.executing import Executor
from qiskit_operator.results import ResultStore

JOB = payloads.JobRef(namespace="default", name="long", uid="uid-long", generation=1)
DEADLINE = 120.0


@pytest.fixture
def executor(tmp_path: Path) -> Iterator[Executor]:
    running = Executor(ResultStore(tmp_path))
    try:
        yield running
    finally:
        running.close()


def long_running(job: payloads.JobRef) -> Envelope:
    """A statevector simulation of minutes: a 24-qubit quantum volume circuit, deep."""
    circuit = quantum_volume(24, depth=40, seed=3)
    circuit.measure_all()
    request = payloads.ExecutionRequest(
        shots=10, optimization_level=0, seed=1, method="statevector", max_execution_seconds=600
    )
    work = validated_work(circuit, request, job)
    return Envelope(
        type=types.JOB_VALIDATED, source="test", data=payloads.encode(work), subject=job.key
    )


def cancel(job: payloads.JobRef) -> Envelope:
    """Reconcile's answer to spec.cancel, which made a new generation of the job."""
    request = payloads.CancelRequest(job=msgspec.structs.replace(job, generation=2))
    return Envelope(
        type=types.EXECUTION_CANCEL, source="test", data=payloads.encode_cancel(request)
    )


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {DEADLINE:g} s"
        time.sleep(0.01)


def test_a_cancel_kills_the_running_simulation_within_a_second_or_so(executor: Executor) -> None:
    answers: list[Envelope | None] = []
    run = threading.Thread(target=lambda: answers.append(executor.handle(long_running(JOB))))
    run.start()
    wait_until(lambda: executor.isolated._running == JOB.uid, "the simulation started")
    asked = time.monotonic()
    executor.handle(cancel(JOB))
    run.join(DEADLINE)
    took = time.monotonic() - asked
    print(f"cancel to the run's end: {took * 1000:.0f} ms")
    assert not run.is_alive()
    (answer,) = answers
    assert answer is not None and answer.type == types.JOB_FAILED
    failed = payloads.decode(answer.type, answer.data)
    assert isinstance(failed, payloads.JobFailed)
    assert (failed.reason, failed.kind) == ("Cancelled", "user")
    # Loose: a kill is milliseconds; this bound only catches a cancel that waited for the run.
    assert took < 10.0


def test_work_of_a_cancelled_job_still_to_come_is_dropped(executor: Executor) -> None:
    executor.handle(cancel(JOB))
    assert executor.handle(long_running(JOB)) is None


def test_deleting_the_job_kills_its_running_simulation_too(executor: Executor) -> None:
    answers: list[Envelope | None] = []
    run = threading.Thread(target=lambda: answers.append(executor.handle(long_running(JOB))))
    run.start()
    wait_until(lambda: executor.isolated._running == JOB.uid, "the simulation started")
    obj = {
        "apiVersion": "quantum.io/v1",
        "kind": "QiskitJob",
        "metadata": {"name": JOB.name, "namespace": JOB.namespace, "uid": JOB.uid,
                     "generation": 1},
        "spec": {"circuit": {"code": "x"}},
    }  # fmt: skip
    executor.handle(resource_event(obj, types.APISERVER_DELETE))
    run.join(DEADLINE)
    assert not run.is_alive()
    (answer,) = answers
    assert answer is not None
    failed = payloads.decode(answer.type, answer.data)
    assert isinstance(failed, payloads.JobFailed) and failed.reason == "Cancelled"
