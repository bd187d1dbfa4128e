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
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.events.apiserver import job_ref
from qiskit_operator.events.payloads import JobRef
from qiskit_operator.models import JobStatus, QiskitJob
from qiskit_operator.models.spec import OutputSpec

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
class JobNow:
    """A job as the API server has it now: what an event's claims are checked against
    (`status.claims`). `ref` carries the object's own uid and metadata.generation."""

    ref: JobRef
    status: JobStatus | None
    output: OutputSpec | None


class ConfigMapTakenError(UserError):
    """The ConfigMap a job's results would go to exists and is not that job's: it is
    never replaced; the job fails saying so."""

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(
            f"ConfigMap {namespace}/{name} already exists and is not owned by this job, so "
            "the result was not written to it; set spec.output.location to a name no other "
            "object uses (or delete that ConfigMap) and apply the job again",
            reason="OutputTaken",
        )


class ResultsNotFreeError(TransientError):
    """The job's result ConfigMap still belongs to an earlier job of the same name, which
    was deleted: the garbage collector removes it soon, and the delivery is retried."""

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(
            f"ConfigMap {namespace}/{name} still holds the results of an earlier job of this "
            "name, which was deleted; the garbage collector removes it soon"
        )


@dataclass(frozen=True, slots=True)
class OwnedConfigMap:
    owner_uid: str
    data: dict[str, str]
    generation: int = 0


class StatusWriter(Protocol):
    def update(self, ref: JobRef, decide: Decide) -> JobStatus | None:
        """Read the job's status, let `decide` compute the new one, write it.

        Returns the status written, or None when `decide` changed nothing or the
        job is gone (deleted, or replaced by another with the same name) or `ref`
        is not the object's uid and generation.
        """

    def read(self, ref: JobRef) -> JobNow | None:
        """The job named `ref.namespace`/`ref.name` as it is now, or None when there is none."""

    def record_event(self, ref: JobRef, kind: EventKind, reason: str, message: str) -> None: ...

    def write_configmap(self, ref: JobRef, name: str, data: dict[str, str]) -> bool:
        """Create ConfigMap `name` in the job's namespace, owned by the job and naming its
        uid and generation, or replace it if this uid owns it for this generation or an
        older one. False, writing nothing, when it holds a newer generation's results or
        those of a newer job of this name; ResultsNotFreeError while it is an earlier
        (deleted) job's; ConfigMapTakenError if anything else owns it."""

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
            if job is None or not _is(job, ref):
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

    def read(self, ref: JobRef) -> JobNow | None:
        with self._lock:
            job = self._jobs.get(ref.key)
        if job is None:
            return None
        output = job.spec.output if job.spec is not None else None  # None: it did not validate
        return JobNow(job_ref(job), job.status, output)

    def record_event(self, ref: JobRef, kind: EventKind, reason: str, message: str) -> None:
        with self._lock:
            self.events.append(RecordedEvent(ref.key, kind, reason, message))

    def write_configmap(self, ref: JobRef, name: str, data: dict[str, str]) -> bool:
        with self._lock:
            taken = self.configmaps.get((ref.namespace, name))
            if taken is not None and (not ref.uid or taken.owner_uid != ref.uid):
                raise ConfigMapTakenError(ref.namespace, name)
            if taken is not None and taken.generation > ref.generation:
                return False
            self.configmaps[(ref.namespace, name)] = OwnedConfigMap(
                ref.uid, dict(data), ref.generation
            )
            return True

    def jobs(self) -> list[ListedJob]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [ListedJob(job_ref(job), job.status, job.metadata.creationTimestamp) for job in jobs]


def _is(job: QiskitJob, ref: JobRef) -> bool:
    """Whether `ref` names this very object at its current generation."""
    return bool(ref.uid) and job.metadata.uid == ref.uid and job.generation == ref.generation
