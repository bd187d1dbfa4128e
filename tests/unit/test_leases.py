"""A run under way (Validating, Scheduled, Retrying) whose answer does not come within
the lease is asked for again by the resync, whatever step lost it; the retries counted
so far go on, and asking is not progress: a run that never answers still stalls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from qiskit_operator.events import types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.models import Phase, QiskitJob
from qiskit_operator.models.status import REQUEUED
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from qiskit_operator.validating import _already_seen
from tests import replies
from tests.conftest import Counted, job_manifest
from tests.fake_apiserver import FakeCluster

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def rig(tmp_path: Path) -> tuple[FakeCluster, Reconciler, Clock]:
    cluster, clock = FakeCluster(), Clock()
    reconcile = Reconciler(cluster, ResultStore(tmp_path), clock=clock, lease=LEASE)
    return cluster, reconcile, clock


def job(cluster: FakeCluster) -> QiskitJob:
    found = cluster.get("default/bell")
    assert found is not None and found.status is not None
    return found


def test_a_run_with_no_answer_past_its_lease_is_asked_for_again_once_a_lease(
    tmp_path: Path,
) -> None:
    cluster, reconcile, clock = rig(tmp_path)
    ref = replies.ref_of(cluster.add(job_manifest()))
    reconcile.handle(replies.envelope(replies.validated(ref)))  # Scheduled; execute's answer lost
    clock.now = NOW + LEASE - timedelta(seconds=1)
    assert reconcile.resync() == []
    clock.now = NOW + LEASE
    with Counted("qop_resync_jobs_total", action="requeued") as counted:
        assert reconcile.resync() == [ref]
        assert reconcile.resync() == []  # asked at this time: the next ask is a lease away
    assert counted.by == 1
    status = job(cluster).status
    assert status is not None and status.phase is Phase.SCHEDULED
    asked = [c for c in status.conditions if c.type == REQUEUED]
    assert [(c.status, c.reason, c.observed_generation) for c in asked] == [
        ("True", "LeaseExpired", 1)
    ]
    assert status.message == (
        "No answer about generation 1 in Scheduled since 2026-11-30T08:00:00Z; asked for it "
        "again at 2026-11-30T08:10:00Z"
    )
    assert [e.reason for e in cluster.events if e.type == "Warning"] == ["Requeued"]
    assert not _already_seen(job(cluster))  # so validate validates it again
    clock.now = NOW + 2 * LEASE
    assert reconcile.resync() == [ref]


def test_the_answer_to_an_ask_settles_it_and_validate_does_not_run_twice(tmp_path: Path) -> None:
    cluster, reconcile, clock = rig(tmp_path)
    obj = cluster.add(job_manifest())
    ref = replies.ref_of(obj)
    reconcile.handle(resource_event(obj, types.APISERVER_ADD))  # Validating: validate's answer lost
    clock.now = NOW + LEASE
    assert reconcile.resync() == [ref]
    assert job(cluster).status.phase is Phase.VALIDATING  # type: ignore[union-attr]
    reconcile.handle(replies.envelope(replies.validated(ref)))
    status = job(cluster).status
    assert status is not None and status.phase is Phase.SCHEDULED
    asked = next(c for c in status.conditions if c.type == REQUEUED)
    assert (asked.status, asked.reason) == ("False", "Answered")
    assert _already_seen(job(cluster))


def test_a_retry_whose_answer_was_lost_goes_on_with_the_retries_counted(tmp_path: Path) -> None:
    cluster, reconcile, clock = rig(tmp_path)
    ref = replies.ref_of(cluster.add(job_manifest()))
    reconcile.handle(replies.envelope(replies.validated(ref)))
    reconcile.handle(replies.envelope(replies.transient(ref, attempt=0)))  # the retry is lost
    clock.now = NOW + LEASE + timedelta(seconds=1)
    assert reconcile.resync() == [ref]
    # Validate answers the ask with the attempt the status counts (validating.py).
    assert reconcile.handle(replies.envelope(replies.validated(ref, attempt=1))) is None
    status = job(cluster).status
    assert status is not None and (status.phase, status.retry_count) == (Phase.RETRYING, 1)
    assert not status.requeued_for(1)
    again = reconcile.handle(replies.envelope(replies.transient(ref, attempt=1)))
    assert again is not None
    assert job(cluster).status.retry_count == 2  # type: ignore[union-attr]


def test_asking_again_is_not_progress_so_a_run_that_never_answers_still_stalls(
    tmp_path: Path,
) -> None:
    cluster, reconcile, clock = rig(tmp_path)
    ref = replies.ref_of(cluster.add(job_manifest()))
    reconcile.handle(replies.envelope(replies.validated(ref)))
    for lease in range(1, 6):
        clock.now = NOW + lease * LEASE
        assert reconcile.resync() == [ref]
        assert job(cluster).status.phase is Phase.SCHEDULED  # type: ignore[union-attr]
    clock.now = NOW + timedelta(hours=1)
    assert reconcile.resync() == [ref]
    status = job(cluster).status
    assert status is not None and status.phase is Phase.FAILED
    assert status.message is not None and status.message.startswith("Stalled in Scheduled")


def test_a_finished_or_unseen_job_is_never_asked_for_as_a_lost_run(tmp_path: Path) -> None:
    cluster, reconcile, clock = rig(tmp_path)
    ref = replies.ref_of(cluster.add(job_manifest()))
    reconcile.handle(replies.envelope(replies.validated(ref)))
    reconcile.handle(replies.envelope(replies.completed(ref)))
    clock.now = NOW + 3 * LEASE
    assert reconcile.resync() == []
    assert job(cluster).status.phase is Phase.COMPLETED  # type: ignore[union-attr]
