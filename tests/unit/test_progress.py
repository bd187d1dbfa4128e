"""status.progress: parameter sets of a sweep (or the one circuit), none done when the
run is scheduled, all when it completed, and between them execute's counts, merged so
that progress only ever moves up (`transitions.progressed`)."""

from __future__ import annotations

import itertools
from pathlib import Path

import msgspec
import pytest

from qiskit_operator.errors import UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.payloads import JobProgressed
from qiskit_operator.models import JobStatus, Phase
from qiskit_operator.status import transitions
from tests import replies
from tests.unit.test_reconciling import rig
from tests.unit.test_transitions import NOW, ref

SWEEP = [[0.1], [0.2], [0.3]]


def sweep_validated() -> payloads.JobValidated:
    work = replies.validated(ref())
    return msgspec.structs.replace(
        work, execution=msgspec.structs.replace(work.execution, parameter_values=SWEEP)
    )


def test_a_scheduled_sweep_has_none_of_its_parameter_sets_done() -> None:
    status = transitions.validated(transitions.seen(None, 1, NOW), sweep_validated(), NOW)
    assert status is not None and status.progress == "0/3 parameter sets"


def test_a_completed_sweep_has_all_its_parameter_sets_done() -> None:
    scheduled = transitions.validated(transitions.seen(None, 1, NOW), sweep_validated(), NOW)
    done = msgspec.structs.replace(
        replies.completed(ref()),
        sweep=[payloads.SweepPoint(parameters=row, counts={"0": 1}) for row in SWEEP],
    )
    status = transitions.completed(scheduled, done, NOW)
    assert status is not None and status.progress == "3/3 parameter sets"


def test_a_single_circuit_counts_as_one() -> None:
    scheduled = transitions.validated(transitions.seen(None, 1, NOW), replies.validated(ref()), NOW)
    assert scheduled is not None and scheduled.progress == "0/1 circuits"
    status = transitions.completed(scheduled, replies.completed(ref()), NOW)
    assert status is not None and status.progress == "1/1 circuits"


def scheduled_sweep(total: int = 100) -> JobStatus:
    work = replies.validated(ref())
    rows = [[i / total] for i in range(total)]
    work = msgspec.structs.replace(
        work, execution=msgspec.structs.replace(work.execution, parameter_values=rows)
    )
    status = transitions.validated(transitions.seen(None, 1, NOW), work, NOW)
    assert status is not None and status.progress == f"0/{total} parameter sets"
    return status


def counted(done: int, total: int = 100, generation: int = 1, attempt: int = 0) -> JobProgressed:
    return JobProgressed(job=ref(generation), done=done, total=total, attempt=attempt)


def merge(status: JobStatus, *events: JobProgressed) -> JobStatus:
    """Every event applied in turn, as reconcile writes each (None: nothing written)."""
    for event in events:
        status = transitions.progressed(status, event) or status
    return status


def test_a_running_sweeps_count_moves_progress_up() -> None:
    status = transitions.progressed(scheduled_sweep(), counted(37))
    assert status is not None and status.progress == "37/100 parameter sets"
    assert status.phase is Phase.SCHEDULED and status.message == "Scheduled on aer_simulator"


def test_a_repeated_or_late_count_never_moves_progress_back() -> None:
    at_60 = merge(scheduled_sweep(), counted(60))
    assert transitions.progressed(at_60, counted(60)) is None
    assert transitions.progressed(at_60, counted(37)) is None
    assert transitions.progressed(at_60, counted(0)) is None


@pytest.mark.parametrize("order", list(itertools.permutations([10, 37, 62, 90])))
def test_counts_in_any_order_end_at_the_highest(order: tuple[int, ...]) -> None:
    status = merge(scheduled_sweep(), *(counted(done) for done in order))
    assert status.progress == "90/100 parameter sets"


def test_no_count_touches_a_finished_job() -> None:
    running = merge(scheduled_sweep(3), counted(2, total=3))
    done = msgspec.structs.replace(
        replies.completed(ref()),
        sweep=[payloads.SweepPoint(parameters=[0.0], counts={"0": 1})] * 3,
    )
    completed = transitions.completed(running, done, NOW)
    assert completed is not None and completed.progress == "3/3 parameter sets"
    assert transitions.progressed(completed, counted(1, total=3)) is None
    assert transitions.progressed(completed, counted(3, total=3)) is None
    failed = transitions.failed(running, replies.failed(ref()), NOW)
    assert failed is not None and transitions.progressed(failed, counted(3, total=3)) is None


def test_a_count_of_another_generation_total_or_attempt_changes_nothing() -> None:
    status = scheduled_sweep()
    assert transitions.progressed(status, counted(50, generation=2)) is None
    assert transitions.progressed(status, counted(50, total=200)) is None
    assert transitions.progressed(status, counted(50, attempt=1)) is None
    assert transitions.progressed(status, counted(101)) is None


def test_a_count_before_the_job_is_scheduled_changes_nothing() -> None:
    assert transitions.progressed(transitions.seen(None, 1, NOW), counted(5)) is None
    assert transitions.progressed(None, counted(5)) is None


def test_a_retry_starts_its_count_again_and_only_its_own_attempt_moves_it() -> None:
    at_80 = merge(scheduled_sweep(), counted(80))
    retrying = transitions.retrying(at_80, replies.transient(ref(), 0), NOW, 3, lambda n: 1.0)
    assert retrying is not None and retrying.progress == "0/100 parameter sets"
    assert transitions.progressed(retrying, counted(90, attempt=0)) is None
    again = transitions.progressed(retrying, counted(20, attempt=1))
    assert again is not None and again.progress == "20/100 parameter sets"
    assert again.phase is Phase.RETRYING


def progressed_envelope(event: JobProgressed) -> Envelope:
    return Envelope(type=types.JOB_PROGRESSED, source="/test", data=payloads.encode(event))


def test_reconcile_writes_a_count_quietly_and_answers_nothing(tmp_path: Path) -> None:
    cluster, reconcile, job = rig(tmp_path)
    work = replies.validated(job)
    work = msgspec.structs.replace(
        work, execution=msgspec.structs.replace(work.execution, parameter_values=SWEEP)
    )
    reconcile.handle(replies.envelope(work))
    recorded = len(cluster.events)
    count = JobProgressed(job=job, done=2, total=len(SWEEP))
    assert reconcile.handle(progressed_envelope(count)) is None
    written = cluster.get(job.key)
    assert written is not None and written.status is not None
    assert written.status.progress == "2/3 parameter sets"
    assert len(cluster.events) == recorded  # no Kubernetes Event for a count


def test_reconcile_refuses_a_count_about_another_object_of_that_name(tmp_path: Path) -> None:
    _, reconcile, job = rig(tmp_path)
    forged = JobProgressed(job=msgspec.structs.replace(job, uid="someone-else"), done=1, total=3)
    with pytest.raises(UserError) as refused:
        reconcile.handle(progressed_envelope(forged))
    assert refused.value.reason == "EventRefused"
