"""Transient execution failures are sent again with backoff, counted once each, and
given up on after the limit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from qiskit_operator.errors import TransientError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.models import ObjectMeta, Phase, QiskitJob
from qiskit_operator.models.spec import CircuitSpec, JobSpec
from qiskit_operator.reconciling import Reconciler, backoff
from qiskit_operator.results import ResultStore
from tests import replies
from tests.fake_apiserver import FakeCluster

NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
REF = payloads.JobRef(namespace="default", name="flaky", uid="u-1", generation=1)
SUMMARY = payloads.CircuitSummary(
    hash="h",
    qubits=1,
    clbits=1,
    depth=1,
    size=1,
    gate_types={"measure": 1},
    two_qubit_gates=0,
    parameters=[],
)


def work(attempt: int) -> payloads.JobValidated:
    return payloads.JobValidated(
        job=REF,
        circuit_qpy="",
        format="qasm2",
        metadata=SUMMARY,
        backend="aer_simulator",
        execution=payloads.ExecutionRequest(
            shots=10, optimization_level=1, seed=1, attempt=attempt
        ),
        estimated_cost=None,
        validation_seconds=0.0,
    )


def failure(attempt: int) -> Envelope:
    failed = payloads.JobFailed(
        job=REF,
        reason="TransientFailure",
        message="worker died",
        kind="transient",
        work=work(attempt),
    )
    return Envelope(
        type=types.JOB_FAILED, source="/test", subject="default/flaky", data=payloads.encode(failed)
    )


def reconciler(tmp_path: Path, max_retries: int = 3) -> tuple[Reconciler, FakeCluster]:
    store = FakeCluster()
    store.add(
        QiskitJob(
            metadata=ObjectMeta(name="flaky", uid="u-1", generation=1),
            spec=JobSpec(circuit=CircuitSpec(code="OPENQASM 2.0;")),
        )
    )
    validated = Envelope(type=types.JOB_VALIDATED, source="/test", data=payloads.encode(work(0)))
    running = Reconciler(store, ResultStore(tmp_path), max_retries=max_retries, clock=lambda: NOW)
    running.handle(validated)
    return running, store


def test_a_transient_failure_is_sent_again_after_a_backoff(tmp_path: Path) -> None:
    running, store = reconciler(tmp_path)
    reply = running.handle(failure(0))
    assert reply is not None and reply.type == types.JOB_VALIDATED
    again = payloads.decode(reply.type, reply.data)
    assert isinstance(again, payloads.JobValidated)
    assert again.execution.attempt == 1
    assert again.execution.not_before == NOW.timestamp() + backoff(1)
    job = store.get("default/flaky")
    assert job is not None and job.status is not None
    assert job.status.phase is Phase.RETRYING and job.status.retry_count == 1


def test_the_same_failure_delivered_twice_is_counted_once(tmp_path: Path) -> None:
    running, store = reconciler(tmp_path)
    assert running.handle(failure(0)) is not None
    # Sent again (a duplicate and a redelivery look the same), but counted once.
    assert running.handle(failure(0)) is not None
    job = store.get("default/flaky")
    assert job is not None and job.status is not None and job.status.retry_count == 1


def test_after_the_last_retry_the_job_fails_saying_so(tmp_path: Path) -> None:
    running, store = reconciler(tmp_path, max_retries=2)
    for attempt in (0, 1):
        assert running.handle(failure(attempt)) is not None
    finished = running.handle(failure(2))
    assert finished is not None and finished.type == types.JOB_FINISHED
    job = store.get("default/flaky")
    assert job is not None and job.status is not None
    assert job.status.phase is Phase.FAILED
    assert "gave up after 2 retries" in (job.status.message or "")


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff(20) == 30.0


def test_a_retry_whose_event_could_not_be_recorded_is_sent_when_the_failure_comes_again(
    tmp_path: Path,
) -> None:
    running, store = reconciler(tmp_path)
    store.api.fail("create_event", "unavailable")
    with pytest.raises(TransientError):
        running.handle(failure(0))  # Retrying is written; the Event is not: Knative redelivers
    reply = running.handle(failure(0))
    assert reply is not None and reply.type == types.JOB_VALIDATED
    again = payloads.decode(reply.type, reply.data)
    assert isinstance(again, payloads.JobValidated)
    assert (again.execution.attempt, again.execution.not_before) == (1, NOW.timestamp() + 1.0)
    job = store.get("default/flaky")
    assert job is not None and job.status is not None and job.status.retry_count == 1


def test_a_retry_whose_reply_was_lost_is_sent_again_the_same_and_counted_once(
    tmp_path: Path,
) -> None:
    running, store = reconciler(tmp_path)
    first = running.handle(failure(0))
    again = running.handle(failure(0))  # the Broker never took the first reply
    assert first is not None and again is not None
    assert (again.type, again.data) == (first.type, first.data)
    job = store.get("default/flaky")
    assert job is not None and job.status is not None and job.status.retry_count == 1
    assert [e.reason for e in store.events].count("Retrying") == 1


def test_the_retry_cap_and_backoff_come_from_the_status_so_a_restarted_reconcile_keeps_them(
    tmp_path: Path,
) -> None:
    running, store = reconciler(tmp_path, max_retries=2)
    assert running.handle(failure(0)) is not None
    restarted = Reconciler(store, ResultStore(tmp_path), max_retries=2, clock=lambda: NOW)
    second = restarted.handle(failure(1))
    assert second is not None
    sent = payloads.decode(second.type, second.data)
    assert isinstance(sent, payloads.JobValidated)
    assert sent.execution.not_before == NOW.timestamp() + backoff(2)
    finished = Reconciler(store, ResultStore(tmp_path), max_retries=2, clock=lambda: NOW).handle(
        failure(2)
    )
    assert finished is not None and finished.type == types.JOB_FINISHED
    job = store.get("default/flaky")
    assert job is not None and job.status is not None
    assert (job.status.phase, job.status.retry_count) == (Phase.FAILED, 2)


def test_a_transient_failure_after_the_job_completed_changes_nothing(tmp_path: Path) -> None:
    running, store = reconciler(tmp_path)
    running.handle(replies.envelope(replies.completed(REF, {"0": 10})))
    before = store.get("default/flaky")
    assert running.handle(failure(0)) is None
    assert store.get("default/flaky") == before
    assert before is not None and before.status is not None
    assert before.status.phase is Phase.COMPLETED


def test_a_failure_of_an_earlier_attempt_sends_nothing(tmp_path: Path) -> None:
    running, store = reconciler(tmp_path)
    assert running.handle(failure(0)) is not None
    assert running.handle(failure(1)) is not None
    assert running.handle(failure(0)) is None  # two retries back: long answered
    job = store.get("default/flaky")
    assert job is not None and job.status is not None and job.status.retry_count == 2
