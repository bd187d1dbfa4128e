"""Reconcile's resync: a job whose current generation no event announced (the source
was down) is asked for again with a status write, once it is old enough; a job that
was seen, or is young, is left alone."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from qiskit_operator import tracing
from qiskit_operator.events import types
from qiskit_operator.events.apiserver import job_ref_from_raw, resource_event
from qiskit_operator.local.pipeline import admit
from qiskit_operator.local.stack import ping_event
from qiskit_operator.models import JobStatus, Phase, QiskitJob
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from qiskit_operator.status import transitions
from qiskit_operator.status.writer import MemoryStatusStore
from qiskit_operator.tracing import traced
from tests.conftest import JsonLines, job_manifest
from tests.unit.test_metrics import Counted

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


def reconciler(
    tmp_path: Path, *objs: dict[str, Any]
) -> tuple[Reconciler, MemoryStatusStore, Clock]:
    store = MemoryStatusStore()
    for obj in objs:
        store.add(QiskitJob.model_validate(obj))
    clock = Clock()
    return Reconciler(store, ResultStore(tmp_path), clock=clock), store, clock


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
    with Counted("qop_jobs_resynced_total") as resynced:
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
    changed = job("changed", LONG_AGO, generation=2)
    reconcile, store, _ = reconciler(tmp_path, changed)
    first = job_ref_from_raw(resource_event(job("changed", LONG_AGO), types.APISERVER_ADD))
    assert first is not None
    store.update(first, lambda _: JobStatus(phase=Phase.COMPLETED, observed_generation=1))
    asked = reconcile.resync()
    assert [(ref.key, ref.generation) for ref in asked] == [("default/changed", 2)]


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
