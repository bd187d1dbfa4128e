"""Where reconcile writes status: the `StatusWriter` interface and its local store.

The Kubernetes implementation (merge-patching /status) lives in the kube
adapter; `MemoryStatusStore` is what `qop run` uses on one machine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from qiskit_operator import metrics
from qiskit_operator.events.apiserver import job_ref
from qiskit_operator.events.payloads import JobRef
from qiskit_operator.models import JobStatus, QiskitJob

Decide = Callable[[JobStatus | None], JobStatus | None]
EventKind = Literal["Normal", "Warning"]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """A Kubernetes Event as `kubectl describe` shows it."""

    job: str
    type: EventKind
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class ListedJob:
    """A job as the resync's list sees it: enough to tell whether it was lost."""

    ref: JobRef
    status: JobStatus | None
    created: datetime | None


@dataclass(frozen=True, slots=True)
class OwnedConfigMap:
    owner_uid: str
    data: dict[str, str]


class StatusWriter(Protocol):
    def update(self, ref: JobRef, decide: Decide) -> JobStatus | None:
        """Read the job's status, let `decide` compute the new one, write it.

        Returns the status written, or None when `decide` changed nothing or the
        job is gone (deleted, or replaced by another with the same name).
        """

    def record_event(self, ref: JobRef, kind: EventKind, reason: str, message: str) -> None: ...

    def write_configmap(self, ref: JobRef, name: str, data: dict[str, str]) -> None:
        """Create or replace ConfigMap `name` in the job's namespace, owned by the job."""

    def jobs(self) -> list[ListedJob]:
        """Every job, in every namespace, with its status (reconcile's resync)."""


class MemoryStatusStore:
    """Jobs held in memory: the local runner's stand-in for the API server."""

    def __init__(self) -> None:
        self._jobs: dict[str, QiskitJob] = {}
        self._lock = threading.Lock()
        self.events: list[RecordedEvent] = []
        self.configmaps: dict[tuple[str, str], OwnedConfigMap] = {}
        self._listeners: list[Callable[[QiskitJob], None]] = []

    def add(self, job: QiskitJob) -> None:
        with self._lock:
            self._jobs[job.key] = job

    def get(self, key: str) -> QiskitJob | None:
        with self._lock:
            return self._jobs.get(key)

    def delete(self, key: str) -> None:
        with self._lock:
            self._jobs.pop(key, None)

    def subscribe(self, listener: Callable[[QiskitJob], None]) -> None:
        self._listeners.append(listener)

    def update(self, ref: JobRef, decide: Decide) -> JobStatus | None:
        with self._lock:
            job = self._jobs.get(ref.key)
            if job is None or (ref.uid and job.metadata.uid != ref.uid):
                return None
            new = decide(job.status)
            if new is None:
                return None
            job = job.model_copy(update={"status": new})
            self._jobs[ref.key] = job
        metrics.STATUS_PATCHES.inc()
        for listener in self._listeners:
            try:
                listener(job)
            except Exception:  # a watcher's failure must not undo or fail the write
                log.exception("status listener failed for %s", ref.key)
        return new

    def record_event(self, ref: JobRef, kind: EventKind, reason: str, message: str) -> None:
        with self._lock:
            self.events.append(RecordedEvent(ref.key, kind, reason, message))

    def write_configmap(self, ref: JobRef, name: str, data: dict[str, str]) -> None:
        with self._lock:
            self.configmaps[(ref.namespace, name)] = OwnedConfigMap(ref.uid, dict(data))

    def jobs(self) -> list[ListedJob]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [ListedJob(job_ref(job), job.status, job.metadata.creationTimestamp) for job in jobs]
