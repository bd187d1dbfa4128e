"""Every field each transition writes, checked whole: a status is what a user reads, so
no field may be wrong, missing or left over from what came before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qiskit_operator.events import payloads
from qiskit_operator.models import JobStatus, Phase
from qiskit_operator.models.money import Money
from qiskit_operator.models.status import (
    REQUEUED,
    CircuitMetadata,
    Condition,
    Metrics,
    Reproducibility,
    Results,
    SweepEntry,
)
from qiskit_operator.status import transitions
from tests import replies

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=12, microseconds=345678)
REF = payloads.JobRef(namespace="default", name="bell", uid="u", generation=3)
LEASE = timedelta(minutes=10)
BACKOFF = {1: 1.0, 2: 2.0, 3: 4.0}


def condition(type_: str, status: str, reason: str, message: str, when: datetime) -> Condition:
    return Condition(
        type=type_,
        status=status,  # type: ignore[arg-type]
        reason=reason,
        message=message,
        last_transition_time=when,
        observed_generation=REF.generation,
    )


def scheduled(at: datetime = NOW) -> JobStatus:
    status = transitions.validated(
        transitions.seen(None, REF.generation, at), replies.validated(REF, {"h": 2}), at
    )
    assert status is not None
    return status


def test_seeing_a_new_generation_starts_it_validating_and_nothing_else() -> None:
    old = JobStatus(phase=Phase.COMPLETED, observed_generation=2, retry_count=2, message="x")
    assert transitions.seen(old, 3, NOW) == JobStatus(
        phase=Phase.VALIDATING,
        observed_generation=3,
        message="Validating the circuit",
        start_time=NOW,
    )


def test_a_validation_writes_the_circuit_the_backend_the_cost_and_its_condition() -> None:
    work = replies.validated(REF, {"h": 2, "measure": 2}, seconds=0.1234567)
    work = payloads.JobValidated(
        job=work.job,
        circuit_qpy="",
        format="qasm2",
        metadata=payloads.CircuitSummary(
            hash="abc", qubits=3, clbits=4, depth=5, size=6, gate_types={"h": 2},
            two_qubit_gates=0, parameters=[],
        ),
        backend="aer_simulator_statevector",
        execution=work.execution,
        estimated_cost=payloads.Cost(amount=0.42),
        validation_seconds=0.1234567,
    )  # fmt: skip
    status = transitions.validated(transitions.seen(None, 3, NOW), work, LATER)
    assert status == JobStatus(
        phase=Phase.SCHEDULED,
        progress="0/1 circuits",
        message="Scheduled on aer_simulator_statevector",
        observed_generation=3,
        start_time=NOW,
        selected_backend="aer_simulator_statevector",
        estimated_cost=Money(amount=0.42),
        circuit_metadata=CircuitMetadata(
            hash="abc", depth=5, qubits=3, clbits=4, gates=6, gate_types={"h": 2}
        ),
        metrics=Metrics(validation_seconds=0.123457),
        conditions=[condition("Validated", "True", "CircuitValid", "3 qubits, depth 5", LATER)],
    )


def test_a_sampler_completion_writes_every_result_field_and_its_metrics() -> None:
    done = payloads.JobCompleted(
        job=REF,
        counts={"00": 6, "11": 4},
        outcomes=2,
        sweep=[payloads.SweepPoint(parameters=[0.5], counts={"00": 6, "11": 4})],
        shots=10,
        backend="aer_simulator",
        method="stabilizer",
        seed=7,
        transpiled=True,
        transpile_seconds=0.1234567,
        execution_seconds=1.7654321,
        location="configmap://default/bell-results",
        reproducibility=payloads.Reproducibility(
            qiskit_version="2.1", qiskit_aer_version="0.17", seed=7, method="stabilizer",
            transpiled_depth=4, noise_model="depolarizing",
        ),
    )  # fmt: skip
    status = transitions.completed(scheduled(), done, LATER)
    assert status is not None
    message = "Completed: 10 shots, 1 parameter bindings on aer_simulator"
    assert (
        status.model_dump()
        == JobStatus(
            phase=Phase.COMPLETED,
            progress="1/1 parameter sets",
            message=message,
            observed_generation=3,
            start_time=NOW,
            completion_time=LATER,
            selected_backend="aer_simulator",
            estimated_cost=scheduled().estimated_cost,
            actual_cost=Money(amount=0.0, currency="USD"),
            circuit_metadata=scheduled().circuit_metadata,
            results=Results(
                counts={"00": 6, "11": 4},
                outcomes=2,
                sweep=[SweepEntry(parameters=[0.5], counts={"00": 6, "11": 4})],
                shots=10,
                execution_time="1.765432s",
                location="configmap://default/bell-results",
                reproducibility=Reproducibility(
                    qiskit_version="2.1",
                    qiskit_aer_version="0.17",
                    seed=7,
                    method="stabilizer",
                    transpiled_depth=4,
                    noise_model="depolarizing",
                ),
            ),
            metrics=Metrics(
                validation_seconds=0.5,
                transpile_seconds=0.123457,
                execution_seconds=1.765432,
                total_seconds=12.345678,
                method="stabilizer",
                transpiled=True,
            ),
            conditions=[
                *scheduled().conditions,
                condition("Completed", "True", "Succeeded", message, LATER),
            ],
        ).model_dump()
    )


def test_an_estimator_completion_says_estimated_and_keeps_values_and_errors() -> None:
    done = payloads.JobCompleted(
        job=REF,
        primitive="estimator",
        expectation_values=[0.5, -1.0],
        standard_errors=[0.01, 0.02],
        sweep=[payloads.SweepPoint(parameters=[0.1], expectation_values=[0.25])],
        shots=0,
        backend="aer_simulator",
        method="statevector",
        seed=None,
        transpiled=False,
        transpile_seconds=0.0,
        execution_seconds=0.0,
    )
    status = transitions.completed(scheduled(), done, LATER)
    assert status is not None and status.results is not None
    assert status.results.expectation_values == [0.5, -1.0]
    assert status.results.standard_errors == [0.01, 0.02]
    assert status.results.counts is None
    assert status.results.sweep == [SweepEntry(parameters=[0.1], expectation_values=[0.25])]
    assert status.message == "Completed: estimated, 1 parameter bindings on aer_simulator"
    assert status.results.reproducibility is None


def test_a_completion_keeps_the_backend_validate_chose() -> None:
    before = scheduled()
    before.selected_backend = "aer_simulator_mps"
    status = transitions.completed(before, replies.completed(REF), LATER)
    assert status is not None and status.selected_backend == "aer_simulator_mps"
    fresh = transitions.completed(None, replies.completed(REF), LATER)
    assert fresh is not None and fresh.selected_backend == "aer_simulator"
    assert fresh.metrics is not None and fresh.metrics.total_seconds is None


def test_a_failure_keeps_what_the_run_had_and_closes_the_completed_condition() -> None:
    status = transitions.failed(scheduled(), replies.failed(REF, "CircuitFailed"), LATER)
    assert status is not None
    expected = scheduled()
    expected.phase, expected.message, expected.completion_time = (
        Phase.FAILED,
        "the circuit failed",
        LATER,
    )
    expected.conditions.append(
        condition("Completed", "False", "CircuitFailed", "the circuit failed", LATER)
    )
    assert status == expected


def test_a_retry_counts_waits_its_backoff_and_says_why() -> None:
    status = transitions.retrying(
        scheduled(), replies.transient(REF, 0), LATER, 3, BACKOFF.__getitem__
    )
    expected = scheduled()
    expected.phase, expected.retry_count = Phase.RETRYING, 1
    expected.next_retry_at = LATER + timedelta(seconds=1)
    expected.message = "Retry 1 after a transient failure: worker died"
    assert status == expected


def test_a_transient_failure_of_a_finished_job_changes_nothing() -> None:
    done = transitions.completed(scheduled(), replies.completed(REF), LATER)
    failed = transitions.failed(scheduled(), replies.failed(REF), LATER)
    for final in (done, failed):
        assert transitions.retrying(final, replies.transient(REF, 0), LATER, 3, float) is None
    stale = replies.transient(payloads.JobRef(namespace="default", name="bell", uid="u",
                                              generation=2), 0)  # fmt: skip
    assert transitions.retrying(scheduled(), stale, LATER, 3, float) is None


def test_giving_up_says_how_many_retries_were_spent() -> None:
    spent = scheduled()
    spent.phase, spent.retry_count = Phase.RETRYING, 2
    given_up = transitions.retrying(spent, replies.transient(REF, 2), LATER, 2, float)
    assert given_up is not None and given_up.phase is Phase.FAILED
    assert given_up.message == "worker died (gave up after 2 retries)"
    no_work = payloads.JobFailed(job=REF, reason="T", message="gone", kind="transient")
    failed = transitions.retrying(spent, no_work, LATER, 5, float)
    assert failed is not None and failed.message == "gone (gave up after 2 retries)"


def test_a_stall_fails_the_run_keeping_its_fields_and_ignores_phaseless_or_unmoved_ones() -> None:
    long_after = NOW + timedelta(hours=2)
    stalled = transitions.stalled(scheduled(), REF, long_after, timedelta(hours=1))
    assert stalled is not None
    assert stalled.circuit_metadata == scheduled().circuit_metadata
    assert stalled.start_time == NOW and stalled.completion_time == long_after
    assert [(c.type, c.status) for c in stalled.conditions] == [
        ("Validated", "True"),
        ("Completed", "False"),
    ]
    phaseless = JobStatus(observed_generation=3, start_time=NOW)
    assert transitions.stalled(phaseless, REF, long_after, timedelta(hours=1)) is None
    unmoved = JobStatus(phase=Phase.SCHEDULED, observed_generation=3)
    assert transitions.stalled(unmoved, REF, long_after, timedelta(hours=1)) is None


def test_a_requeue_keeps_every_condition_and_adds_its_own() -> None:
    asked = transitions.requeued(scheduled(), REF, NOW + LEASE, LEASE)
    assert asked is not None
    message = (
        "No answer about generation 3 in Scheduled since 2026-11-30T08:00:00Z; asked for it "
        "again at 2026-11-30T08:10:00Z"
    )
    assert asked.message == message
    assert asked.conditions == [
        *scheduled().conditions,
        condition(REQUEUED, "True", "LeaseExpired", message, NOW + LEASE),
    ]
    assert transitions.requeued(scheduled(), REF, NOW + LEASE - timedelta(seconds=1), LEASE) is None


def test_an_answer_settles_the_requeue_with_its_own_condition() -> None:
    asked = transitions.requeued(scheduled(), REF, NOW + LEASE, LEASE)
    answered = transitions.retrying(asked, replies.transient(REF, 0), LATER + LEASE, 3, float)
    assert answered is not None
    requeue = next(c for c in answered.conditions if c.type == REQUEUED)
    assert requeue == condition(REQUEUED, "False", "Answered", "", LATER + LEASE)
    again = transitions.validated(asked, replies.validated(REF, {"h": 2}), LATER + LEASE)
    assert again is not None
    assert next(c for c in again.conditions if c.type == REQUEUED).status == "False"
