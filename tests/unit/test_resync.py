"""Reconcile's resync: a job whose current generation no event announced (the source
was down) is asked for again with a status write, once it is old enough; a seen job
that nothing has moved for an hour fails as stalled; a live or young job is left
alone."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from qiskit_operator import tracing, wiring
from qiskit_operator.events import types
from qiskit_operator.events.apiserver import job_ref, job_ref_from_raw, resource_event
from qiskit_operator.local.pipeline import admit
from qiskit_operator.local.stack import ping_event
from qiskit_operator.models import JobStatus, Phase, QiskitJob
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from qiskit_operator.settings import Settings
from qiskit_operator.status import transitions
from qiskit_operator.status.conditions import set_condition
from qiskit_operator.tracing import traced
from tests.conftest import Counted, JsonLines, job_manifest
from tests.fake_apiserver import FakeCluster

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
LONG_AGO = NOW - timedelta(minutes=5)


def job(name: str, created: datetime, generation: int = 1) -> dict[str, Any]:
    obj = admit(job_manifest(name=name))
    obj["metadata"]["creationTimestamp"] = created.isoformat().replace("+00:00", "Z")
    obj["metadata"]["generation"] = generation
    return obj


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def reconciler(tmp_path: Path, *objs: dict[str, Any]) -> tuple[Reconciler, FakeCluster, Clock]:
    store = FakeCluster()
    for obj in objs:
        store.add(QiskitJob.model_validate(obj))
    clock = Clock()
    # No lease here: these tests look at the asks and the stalls alone (test_leases.py).
    return Reconciler(store, ResultStore(tmp_path), clock=clock, lease=None), store, clock


def test_a_job_without_status_is_asked_for_again_as_pending() -> None:
    asked = transitions.asked_again(None, 1, NOW)
    assert asked is not None
    assert asked.phase is Phase.PENDING
    assert asked.observed_generation is None  # so the generation still reads as new
    assert asked.message == (
        "No event about generation 1 reached the operator; asked again at 2026-11-27T09:30:00Z"
    )


def test_a_missed_spec_change_keeps_the_last_generations_outcome() -> None:
    done = JobStatus(phase=Phase.COMPLETED, observed_generation=1, message="Completed: 1024 shots")
    asked = transitions.asked_again(done, 2, NOW)
    assert asked is not None
    assert (asked.phase, asked.observed_generation) == (Phase.COMPLETED, 1)
    assert asked.message is not None and "generation 2" in asked.message
    assert transitions.asked_again(done, 1, NOW) is None  # generation 1 was seen


def test_each_ask_is_a_change_so_the_source_sends_it() -> None:
    first = transitions.asked_again(None, 1, NOW)
    later = transitions.asked_again(first, 1, NOW + timedelta(minutes=1))
    assert first is not None and later is not None
    assert later.message != first.message


def test_resync_asks_only_for_unseen_jobs_older_than_its_grace(tmp_path: Path) -> None:
    missed = job("missed", LONG_AGO)
    young = job("young", NOW - timedelta(seconds=10))
    seen = job("seen", LONG_AGO)
    reconcile, store, _ = reconciler(tmp_path, missed, young, seen)
    reconcile.handle(resource_event(seen, types.APISERVER_ADD))
    with Counted("qop_resync_jobs_total", action="asked_again") as resynced:
        asked = reconcile.resync()
    assert [ref.key for ref in asked] == ["default/missed"]
    assert resynced.by == 1
    status = store.get("default/missed").status  # type: ignore[union-attr]
    assert status is not None and status.phase is Phase.PENDING
    assert store.get("default/young").status is None  # type: ignore[union-attr]
    (event,) = [e for e in store.events if e.reason == "Resynced"]
    assert (event.job, event.type) == ("default/missed", "Warning")


def test_the_write_it_makes_is_taken_up_as_the_lost_event(tmp_path: Path) -> None:
    missed = job("missed", LONG_AGO)
    reconcile, store, clock = reconciler(tmp_path, missed)
    assert reconcile.handle(ping_event()) is None
    current = store.get("default/missed")
    assert current is not None and current.status is not None
    # The source sends the job with that status; reconcile starts the generation.
    obj = current.model_dump(mode="json", by_alias=True, exclude_none=True)
    clock.now = NOW + timedelta(seconds=1)
    reconcile.handle(resource_event(obj, types.APISERVER_UPDATE))
    status = store.get("default/missed").status  # type: ignore[union-attr]
    assert status is not None
    assert (status.phase, status.observed_generation) == (Phase.VALIDATING, 1)
    assert reconcile.resync() == []  # seen now: never asked again


def test_a_spec_change_nobody_announced_is_asked_for(tmp_path: Path) -> None:
    reconcile, store, _ = reconciler(tmp_path, job("changed", LONG_AGO))
    found = store.get("default/changed")
    assert found is not None
    first = job_ref(found)
    done = store.update(first, lambda _: JobStatus(phase=Phase.COMPLETED, observed_generation=1))
    assert done is not None and store.get("default/changed").status == done  # type: ignore[union-attr]
    edited = job("changed", LONG_AGO)
    edited["spec"]["execution"]["shots"] = 7
    assert store.add(edited)["metadata"]["generation"] == 2
    asked = reconcile.resync()
    assert [(ref.key, ref.generation) for ref in asked] == [("default/changed", 2)]
    status = store.get("default/changed").status  # type: ignore[union-attr]
    assert status is not None
    assert (status.phase, status.observed_generation) == (Phase.COMPLETED, 1)
    assert status.message is not None and "generation 2" in status.message


def test_the_resyncs_log_lines_carry_the_jobs_trace_not_the_pings(tmp_path: Path) -> None:
    missed = job("missed", LONG_AGO)
    reconcile, _, _ = reconciler(tmp_path, missed)
    logger, lines = logging.getLogger("qiskit_operator.reconciling"), JsonLines()
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        traced("reconcile", reconcile.handle)(ping_event())
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    uid = missed["metadata"]["uid"]
    about = [line for line in lines.lines if line.get("job") == "default/missed"]
    assert [line["level"] for line in about] == ["INFO", "WARNING"]  # new -> Pending; why
    assert {line["trace_id"] for line in about} == {tracing.trace_id_for(uid)}


def scheduled(moved: datetime, generation: int = 1) -> JobStatus:
    """Seen a minute before `moved`, validated (Scheduled) at `moved`."""
    validated = set_condition(
        [], type_="Validated", status="True", reason="CircuitValid", message="2 qubits",
        generation=generation, now=moved,
    )  # fmt: skip
    return JobStatus(
        phase=Phase.SCHEDULED,
        observed_generation=generation,
        start_time=moved - timedelta(minutes=1),
        conditions=validated,
    )


HOUR = timedelta(hours=1)


def test_a_seen_job_nothing_moved_for_an_hour_fails_as_stalled() -> None:
    ref = job_ref_from_raw(resource_event(job("stuck", LONG_AGO), types.APISERVER_ADD))
    assert ref is not None
    since = NOW - HOUR - timedelta(seconds=1)
    failed = transitions.stalled(scheduled(since), ref, NOW, HOUR)
    assert failed is not None
    assert (failed.phase, failed.completion_time) == (Phase.FAILED, NOW)
    assert failed.message == (
        "Stalled in Scheduled: nothing has moved this job since 2026-11-27T08:29:59Z, so an "
        "event about it was lost. Change its spec, or apply it again under a new name, to "
        "run it again."
    )
    completed = next(c for c in failed.conditions if c.type == "Completed")
    assert (completed.status, completed.reason) == ("False", "Stalled")


def test_a_job_moved_within_the_hour_or_finished_or_unseen_is_not_stalled() -> None:
    ref = job_ref_from_raw(resource_event(job("alive", LONG_AGO), types.APISERVER_ADD))
    assert ref is not None
    assert transitions.stalled(scheduled(NOW - HOUR + timedelta(seconds=1)), ref, NOW, HOUR) is None
    done = scheduled(NOW - 2 * HOUR).model_copy(update={"phase": Phase.COMPLETED})
    assert transitions.stalled(done, ref, NOW, HOUR) is None
    older = scheduled(NOW - 2 * HOUR, generation=0)  # generation 1 not seen: asked instead
    assert transitions.stalled(older, ref, NOW, HOUR) is None
    assert transitions.stalled(None, ref, NOW, HOUR) is None


def test_resync_fails_a_stalled_job_once(tmp_path: Path) -> None:
    stuck = job("stuck", LONG_AGO)
    reconcile, store, clock = reconciler(tmp_path, stuck)
    reconcile.handle(resource_event(stuck, types.APISERVER_ADD))  # Validating, at NOW
    clock.now = NOW + HOUR - timedelta(seconds=1)
    assert reconcile.resync() == []  # alive for all anyone knows
    clock.now = NOW + HOUR
    with Counted("qop_resync_jobs_total", action="failed_stalled") as failed:
        (ref,) = reconcile.resync()
        assert reconcile.resync() == []  # failed now: final
    assert ref.key == "default/stuck" and failed.by == 1
    status = store.get("default/stuck").status  # type: ignore[union-attr]
    assert status is not None and status.phase is Phase.FAILED
    assert status.message is not None and status.message.startswith("Stalled in Validating")
    assert [e.reason for e in store.events if e.type == "Warning"] == ["Stalled"]


def test_stall_detection_can_be_turned_off(tmp_path: Path) -> None:
    stuck = job("stuck", LONG_AGO)
    store = FakeCluster()
    store.add(QiskitJob.model_validate(stuck))
    reconcile = Reconciler(
        store, ResultStore(tmp_path), clock=lambda: NOW, stalled_after=None, lease=None
    )
    reconcile.handle(resource_event(stuck, types.APISERVER_ADD))
    reconcile.clock = lambda: NOW + 100 * HOUR
    assert reconcile.resync() == []


def test_the_settings_name_the_graces_and_zero_turns_stall_detection_off() -> None:
    env = {"QOP_RESYNC_AFTER_SECONDS": "5", "QOP_STALLED_AFTER_SECONDS": "0"}
    off = wiring.reconciler(Settings.from_env(env))
    assert (off.resyncing.resync_after, off.resyncing.stalled_after) == (timedelta(seconds=5), None)
    default = wiring.reconciler(Settings.from_env({}))
    assert (default.resyncing.resync_after, default.resyncing.stalled_after) == (
        timedelta(minutes=1),
        HOUR,
    )
