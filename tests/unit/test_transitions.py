"""Duplicated and reordered events never move a phase backwards or double-count."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from qiskit_operator.events import payloads
from qiskit_operator.models import JobStatus, Phase
from qiskit_operator.status import transitions

NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
SUMMARY = payloads.CircuitSummary(
    hash="h",
    qubits=2,
    clbits=2,
    depth=3,
    size=4,
    gate_types={"h": 1, "cx": 1, "measure": 2},
    two_qubit_gates=1,
    parameters=[],
)
REQUEST = payloads.ExecutionRequest(shots=1024, optimization_level=1, seed=5)


def ref(generation: int = 1) -> payloads.JobRef:
    return payloads.JobRef(namespace="default", name="bell", uid="u", generation=generation)


def validated(generation: int = 1) -> payloads.JobValidated:
    return payloads.JobValidated(
        job=ref(generation),
        circuit_qpy="",
        format="python",
        metadata=SUMMARY,
        backend="aer_simulator",
        execution=REQUEST,
        estimated_cost=None,
        validation_seconds=0.002,
    )


def completed(generation: int = 1) -> payloads.JobCompleted:
    return payloads.JobCompleted(
        job=ref(generation),
        counts={"00": 510, "11": 514},
        shots=1024,
        backend="aer_simulator",
        method="stabilizer",
        seed=5,
        transpiled=False,
        transpile_seconds=0.0,
        execution_seconds=0.002,
    )


def failed(generation: int = 1) -> payloads.JobFailed:
    return payloads.JobFailed(job=ref(generation), reason="SimulationFailed", message="boom")


def apply(status: JobStatus | None, event: object, now: datetime = NOW) -> JobStatus | None:
    if event == "seen":
        return transitions.seen(status, 1, now)
    if isinstance(event, payloads.JobValidated):
        return transitions.validated(status, event, now)
    if isinstance(event, payloads.JobCompleted):
        return transitions.completed(status, event, now)
    if isinstance(event, payloads.JobFailed):
        return transitions.failed(status, event, now)
    raise AssertionError(event)


def replay(events: list[object]) -> JobStatus | None:
    status: JobStatus | None = None
    for event in events:
        status = apply(status, event) or status
    return status


def test_the_happy_path_ends_completed_with_counts_and_metadata() -> None:
    status = replay(["seen", validated(), completed()])
    assert status is not None
    assert status.phase is Phase.COMPLETED
    assert status.results is not None and status.results.counts == {"00": 510, "11": 514}
    assert status.circuit_metadata is not None and status.circuit_metadata.qubits == 2
    assert {c.type: c.status for c in status.conditions} == {
        "Validated": "True",
        "Completed": "True",
    }


@pytest.mark.parametrize("order", list(itertools.permutations(["seen", "validated", "completed"])))
def test_any_order_of_the_same_events_ends_in_the_same_final_status(order: tuple[str, ...]) -> None:
    events = {"seen": "seen", "validated": validated(), "completed": completed()}
    status = replay([events[name] for name in order])
    assert status is not None
    assert status.phase is Phase.COMPLETED
    assert status.results is not None and status.results.counts == {"00": 510, "11": 514}
    assert status.circuit_metadata is not None and status.circuit_metadata.hash == "h"


def test_each_event_delivered_twice_changes_the_status_only_once() -> None:
    status = replay(["seen", validated(), completed()])
    for event in ("seen", validated(), completed(), failed()):
        assert apply(status, event, NOW + timedelta(seconds=5)) is None


def test_a_late_failure_never_overwrites_a_completed_job() -> None:
    status = replay(["seen", validated(), completed(), failed()])
    assert status is not None and status.phase is Phase.COMPLETED


def test_a_late_validated_event_does_not_move_a_finished_job_back_to_scheduled() -> None:
    status = replay(["seen", completed(), validated()])
    assert status is not None and status.phase is Phase.COMPLETED
    assert status.circuit_metadata is not None  # but its metadata is still recorded


def test_events_of_an_older_generation_are_ignored_after_the_spec_changed() -> None:
    status = replay(["seen", validated(1)])
    newer = transitions.seen(status, 2, NOW)
    assert newer is not None and newer.observed_generation == 2
    assert newer.phase is Phase.VALIDATING
    assert transitions.completed(newer, completed(1), NOW) is None
    assert transitions.failed(newer, failed(1), NOW) is None


def test_condition_transition_time_is_kept_when_the_condition_does_not_change() -> None:
    status = replay(["seen", validated()])
    assert status is not None
    first = next(c for c in status.conditions if c.type == "Validated")
    later = transitions.completed(status, completed(), NOW + timedelta(minutes=1))
    assert later is not None
    again = next(c for c in later.conditions if c.type == "Validated")
    assert again.last_transition_time == first.last_transition_time == NOW
