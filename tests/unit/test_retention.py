"""A finished job is deleted when its time to live runs out (spec.ttlSecondsAfterFinished,
else output.retention, else QOP_JOB_TTL_SECONDS), by reconcile on the ping or on its final
update event; a job that is not finished, changed since, or has no TTL is kept. Execute
removes the result files it wrote for a deleted job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import msgspec
import pytest

from qiskit_operator.errors import UserError
from qiskit_operator.events import types
from qiskit_operator.events.apiserver import job_ref_from_raw, resource_event
from qiskit_operator.events.payloads import OutputRequest
from qiskit_operator.executing import Executor
from qiskit_operator.local.pipeline import admit
from qiskit_operator.models import JobStatus, Phase, QiskitJob
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from qiskit_operator.retention import Expiry, MemoryRetention, job_ttl
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore
from tests.conftest import job_manifest, value

FINISHED = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def finished_job(
    name: str,
    *,
    ttl: int | None = None,
    retention: str | None = None,
    generation: int = 1,
    observed: int = 1,
    phase: Phase = Phase.COMPLETED,
) -> dict[str, Any]:
    obj = admit(job_manifest(name=name))
    obj["metadata"]["generation"] = generation
    if ttl is not None:
        obj["spec"]["ttlSecondsAfterFinished"] = ttl
    if retention is not None:
        obj["spec"]["output"] = {"type": "configmap", "retention": retention}
    status = JobStatus(phase=phase, observed_generation=observed, completion_time=FINISHED)
    obj["status"] = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return obj


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def reconciler(
    tmp_path: Path, *objs: dict[str, Any], default: timedelta | None = None
) -> tuple[Reconciler, MemoryStatusStore, Clock]:
    store = MemoryStatusStore()
    for obj in objs:
        store.add(QiskitJob.model_validate(obj))
    clock = Clock(FINISHED)
    expiry = Expiry(MemoryRetention(store), default)
    return Reconciler(store, ResultStore(tmp_path), clock=clock, expiry=expiry), store, clock


def test_a_finished_job_is_deleted_by_the_ping_once_its_time_to_live_ran_out(
    tmp_path: Path,
) -> None:
    reconcile, store, clock = reconciler(tmp_path, finished_job("short", ttl=60))
    expired = value("qop_jobs_expired_total")
    clock.now = FINISHED + timedelta(seconds=59)
    reconcile.resync()
    assert store.get("default/short") is not None
    clock.now = FINISHED + timedelta(seconds=60)
    reconcile.resync()
    assert store.get("default/short") is None
    assert value("qop_jobs_expired_total") == expired + 1


def test_a_ttl_of_zero_deletes_the_job_on_the_update_event_of_its_final_write(
    tmp_path: Path,
) -> None:
    obj = finished_job("at-once", ttl=0)
    reconcile, store, _ = reconciler(tmp_path, obj)
    reconcile.handle(resource_event(obj, types.APISERVER_UPDATE))
    assert store.get("default/at-once") is None


def test_an_update_event_of_an_unfinished_job_deletes_nothing(tmp_path: Path) -> None:
    obj = finished_job("running", ttl=0, phase=Phase.SCHEDULED)
    reconcile, store, _ = reconciler(tmp_path, obj)
    reconcile.handle(resource_event(obj, types.APISERVER_UPDATE))
    assert store.get("default/running") is not None


def test_a_job_whose_spec_changed_after_it_finished_is_kept(tmp_path: Path) -> None:
    reconcile, store, clock = reconciler(
        tmp_path, finished_job("edited", ttl=0, generation=2, observed=1)
    )
    clock.now = FINISHED + timedelta(days=1)
    reconcile.resync()
    assert store.get("default/edited") is not None


def test_a_failed_job_expires_like_a_completed_one(tmp_path: Path) -> None:
    reconcile, store, clock = reconciler(
        tmp_path, finished_job("failed", ttl=5, phase=Phase.FAILED)
    )
    clock.now = FINISHED + timedelta(seconds=5)
    reconcile.resync()
    assert store.get("default/failed") is None


def test_a_job_without_a_ttl_is_kept_unless_the_cluster_sets_a_default(tmp_path: Path) -> None:
    reconcile, store, clock = reconciler(tmp_path, finished_job("kept"))
    clock.now = FINISHED + timedelta(days=365)
    reconcile.resync()
    assert store.get("default/kept") is not None
    reconcile, store, clock = reconciler(
        tmp_path, finished_job("defaulted"), default=timedelta(hours=1)
    )
    clock.now = FINISHED + timedelta(hours=1)
    reconcile.resync()
    assert store.get("default/defaulted") is None


def test_a_jobs_own_ttl_wins_over_the_clusters_default(tmp_path: Path) -> None:
    reconcile, store, clock = reconciler(
        tmp_path, finished_job("own", ttl=7200), default=timedelta(seconds=1)
    )
    clock.now = FINISHED + timedelta(hours=1)
    reconcile.resync()
    assert store.get("default/own") is not None


def test_output_retention_is_the_ttl_when_ttl_seconds_after_finished_is_unset() -> None:
    assert job_ttl(None, "7d") == timedelta(days=7)
    assert job_ttl(None, "1h30m") == timedelta(minutes=90)
    assert job_ttl(60, "7d") == timedelta(seconds=60)
    assert job_ttl(None, None) is None


def test_output_retention_deletes_the_job_through_the_ping(tmp_path: Path) -> None:
    reconcile, store, clock = reconciler(tmp_path, finished_job("retained", retention="2h"))
    clock.now = FINISHED + timedelta(hours=2)
    reconcile.resync()
    assert store.get("default/retained") is None


@pytest.mark.parametrize("written", ["a week", "0s", "7 days", "-1h"])
def test_an_output_retention_that_is_no_duration_is_refused_with_what_to_write(
    written: str,
) -> None:
    obj = admit(job_manifest(name="bad-retention"))
    obj["spec"]["output"] = {"type": "configmap", "retention": written}
    with pytest.raises(ValueError, match=r"output\.retention must be a duration such as"):
        QiskitJob.model_validate(obj)


def test_a_negative_ttl_is_refused() -> None:
    obj = admit(job_manifest(name="negative"))
    obj["spec"]["ttlSecondsAfterFinished"] = -1
    with pytest.raises(ValueError, match="ttlSecondsAfterFinished"):
        QiskitJob.model_validate(obj)


def test_the_clusters_default_ttl_is_a_setting_unset_by_default() -> None:
    assert Settings.from_env({}).job_ttl_seconds is None
    assert Settings.from_env({"QOP_JOB_TTL_SECONDS": "86400"}).job_ttl_seconds == 86400
    assert Settings.from_env({"QOP_JOB_TTL_SECONDS": " "}).job_ttl_seconds is None
    with pytest.raises(UserError, match="QOP_JOB_TTL_SECONDS '1d' is not a whole number"):
        Settings.from_env({"QOP_JOB_TTL_SECONDS": "1d"})


def test_removing_a_jobs_results_takes_every_generation_and_nothing_of_another_job(
    tmp_path: Path,
) -> None:
    store = ResultStore(tmp_path)
    obj = finished_job("results", generation=3, observed=3)
    ref = job_ref_from_raw(resource_event(obj, types.APISERVER_DELETE))
    assert ref is not None
    other = finished_job("other")
    other_ref = job_ref_from_raw(resource_event(other, types.APISERVER_DELETE))
    assert other_ref is not None
    default = OutputRequest(type="pvc")
    chosen = OutputRequest(type="pvc", path="runs/r.csv", format="csv")
    written = [
        store.put(msgspec.structs.replace(ref, generation=generation), output, b"{}")
        for generation in (1, 2, 3)
        for output in (default, chosen)
    ]
    kept = store.put(other_ref, default, b"{}")
    assert store.remove_job(ref, chosen) == 4  # three default files, one chosen path
    assert not any(local(url).exists() for url in written)
    assert local(kept).exists()


def local(url: str) -> Path:
    return Path(urlparse(url).path)


def test_execute_removes_the_files_it_wrote_when_the_job_is_deleted(tmp_path: Path) -> None:
    obj = finished_job("deleted")
    obj["spec"]["output"] = {"type": "pvc", "path": "mine/result.json"}
    deleted = resource_event(obj, types.APISERVER_DELETE)
    ref = job_ref_from_raw(deleted)
    assert ref is not None
    store = ResultStore(tmp_path)
    written = local(store.put(ref, OutputRequest(type="pvc", path="mine/result.json"), b"{}"))
    assert written.exists()
    executor = Executor(store)
    try:
        assert executor.handle(deleted) is None
    finally:
        executor.close()
    assert not written.exists()
