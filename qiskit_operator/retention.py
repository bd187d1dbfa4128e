"""When a finished job is deleted: `spec.ttlSecondsAfterFinished`, as on a Kubernetes Job.

A job that finished (Completed or Failed, at its current generation)
is deleted that many seconds after its `completionTime`; without the field,
`spec.output.retention` (a duration) says it, else the cluster's
QOP_JOB_TTL_SECONDS, else the job is kept. Reconcile deletes: on the resync's
ping, and on the job's own `job.finished` (a TTL of 0 deletes it at once).
What the job produced goes with it: its ConfigMaps by their owner reference
(Kubernetes' garbage collector), its result files on the volume by execute,
which wrote them, on the job's delete event (`ResultStore.remove_job`).

`JobRetention` is what reconcile needs of the API: the finished jobs, and a
delete that only removes the very object it looked at (uid and resourceVersion
as preconditions: not a job created again under the name, nor one whose spec
changed since). The Kubernetes one is in the kube adapter (`kube.retention`);
`MemoryRetention` serves the local store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import pydantic

from qiskit_operator import metrics
from qiskit_operator.durations import parse_duration
from qiskit_operator.errors import UserError
from qiskit_operator.events.payloads import JobRef
from qiskit_operator.models import JobStatus
from qiskit_operator.status.writer import MemoryStatusStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FinishedJob:
    """A job whose current generation ended, and how long it may stay."""

    ref: JobRef
    finished_at: datetime
    ttl: timedelta | None
    """Its own, from the spec; None: the cluster's default applies."""
    resource_version: str | None = None


def job_ttl(ttl_seconds: int | None, retention: str | None) -> timedelta | None:
    """A job's own time to live: `ttlSecondsAfterFinished`, else `output.retention`."""
    if ttl_seconds is not None:
        return timedelta(seconds=max(0, ttl_seconds))
    if retention:
        try:
            return timedelta(seconds=parse_duration(retention, "output.retention"))
        except UserError:
            return None  # the API server refuses such a job; one from before is kept
    return None


def finished(ref: JobRef, status: JobStatus | None, ttl: timedelta | None) -> FinishedJob | None:
    """`ref` as a finished job, or None while its current generation has not ended."""
    if status is None or status.phase is None or not status.phase.is_terminal:
        return None
    if status.observed_generation != ref.generation or status.completion_time is None:
        return None  # the spec changed since it finished: the new generation runs
    return FinishedJob(ref, status.completion_time, ttl)


def finished_object(item: dict[str, Any]) -> FinishedJob | None:
    """A QiskitJob as the API server serves it (a list's item, or what an event carries)
    if its current generation ended; read from the raw object, whose spec may not
    validate."""
    meta = item.get("metadata") or {}
    if not meta.get("name") or not item.get("status"):
        return None
    ref = JobRef(
        namespace=meta.get("namespace", "default"),
        name=meta["name"],
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation") or 1),
    )
    spec = item.get("spec") or {}
    output = spec.get("output") or {}
    ttl_seconds, retention = spec.get("ttlSecondsAfterFinished"), output.get("retention")
    try:
        status = JobStatus.model_validate(item["status"])
    except pydantic.ValidationError:
        return None  # the resync says why; a status reconcile cannot read is not finished
    ttl = job_ttl(
        ttl_seconds if isinstance(ttl_seconds, int) else None,
        retention if isinstance(retention, str) else None,
    )
    job = finished(ref, status, ttl)
    if job is None:
        return None
    return FinishedJob(job.ref, job.finished_at, job.ttl, meta.get("resourceVersion"))


def due(job: FinishedJob, now: datetime, default: timedelta | None) -> bool:
    """Whether `job`'s time is up, with `default` for a job that sets none."""
    ttl = job.ttl if job.ttl is not None else default
    return ttl is not None and job.finished_at + ttl <= now


class JobRetention(Protocol):
    def finished_jobs(self) -> list[FinishedJob]:
        """Every job, in every namespace, whose current generation ended."""

    def delete(self, job: FinishedJob) -> bool:
        """Delete the job as it was seen; False when it is gone or changed since."""


class MemoryRetention:
    """`JobRetention` over the local runner's store."""

    def __init__(self, store: MemoryStatusStore) -> None:
        self._store = store

    def finished_jobs(self) -> list[FinishedJob]:
        found = (self.finished_job(listed.ref) for listed in self._store.jobs())
        return [job for job in found if job is not None]

    def finished_job(self, ref: JobRef) -> FinishedJob | None:
        job = self._store.get(ref.key)
        if job is None or job.metadata.uid != ref.uid:
            return None
        spec = job.spec
        retention = spec.output.retention if spec.output is not None else None
        now = JobRef(namespace=ref.namespace, name=ref.name, uid=ref.uid, generation=job.generation)
        return finished(now, job.status, job_ttl(spec.ttl_seconds_after_finished, retention))

    def delete(self, job: FinishedJob) -> bool:
        current = self.finished_job(job.ref)
        if current is None or current.ref.generation != job.ref.generation:
            return False  # gone, created again, or changed since
        self._store.delete(job.ref.key)
        return True


class Expiry:
    """Deletes finished jobs whose time is up: all of them on the resync's ping
    (`sweep`), one on the update event of its final status write (`check`, from the
    object the event carries: no read)."""

    def __init__(self, retention: JobRetention, default: timedelta | None) -> None:
        self._retention = retention
        self._default = default

    def sweep(self, now: datetime) -> list[JobRef]:
        return [
            job.ref
            for job in self._retention.finished_jobs()
            if due(job, now, self._default) and self._delete(job)
        ]

    def check(self, item: dict[str, Any], now: datetime) -> bool:
        job = finished_object(item)
        return job is not None and due(job, now, self._default) and self._delete(job)

    def _delete(self, job: FinishedJob) -> bool:
        if not self._retention.delete(job):
            return False
        metrics.JOBS_EXPIRED.inc()
        log.info(
            "%s: deleted, %s after it finished (its time to live)",
            job.ref.key,
            job.ttl if job.ttl is not None else self._default,
        )
        return True
