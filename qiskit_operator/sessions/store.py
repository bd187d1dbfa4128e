"""Where sessions and their jobs are read, and session status written.

`SessionStore` is what `scheduling` (reconcile) and `holding` (validate) need;
`kube.sessions.KubeSessions` is it on a cluster, `MemorySessions` on one machine
(`qop run`) and in tests. `write_status` is guarded by the resourceVersion the
session was read at, so two reconcile workers never both give out the last turn.
"""

from __future__ import annotations

import threading
from typing import Protocol

from qiskit_operator.events.apiserver import job_ref
from qiskit_operator.models import QiskitJob
from qiskit_operator.models.session import QiskitSession, QiskitSessionStatus
from qiskit_operator.models.status import JobStatus
from qiskit_operator.sessions.queueing import Member
from qiskit_operator.status.writer import MemoryStatusStore

ADMITTED = "SessionAdmitted"


class SessionStore(Protocol):
    def session(self, namespace: str, name: str) -> QiskitSession | None: ...

    def sessions(self) -> list[QiskitSession]:
        """Every session in every namespace (reconcile's ping closes those past maxTime)."""
        ...

    def members(self, session: QiskitSession) -> list[Member]:
        """The jobs in the session's namespace that name it, read fresh."""
        ...

    def write_status(self, session: QiskitSession, status: QiskitSessionStatus) -> bool:
        """Write `status` if the session is still at the resourceVersion it was read at;
        False when it changed meanwhile (or is gone): read it again and decide again."""
        ...


def admitted(status: JobStatus | None, generation: int) -> bool:
    """Whether the session let this generation of the job run."""
    return status is not None and any(
        c.type == ADMITTED and c.status == "True" and c.observed_generation == generation
        for c in status.conditions
    )


def waiting_turn(status: JobStatus | None, generation: int) -> bool:
    """Whether this generation waits in its session's queue (`SessionAdmitted` False):
    not stalled, however long the queue; the resync leaves it be."""
    return (
        status is not None
        and (status.phase is None or not status.phase.is_terminal)
        and any(
            c.type == ADMITTED and c.status == "False" and c.observed_generation == generation
            for c in status.conditions
        )
    )


def member_of(job: QiskitJob, session: QiskitSession) -> Member | None:
    """The job as a member of `session`, None when it names another (or none)."""
    named = job.spec.session.name if job.spec.session else None
    if named != session.metadata.name or job.metadata.namespace != session.metadata.namespace:
        return None
    ref = job_ref(job)
    running = session.status.running if session.status else []
    return Member(
        ref=ref,
        priority=job.spec.execution.priority,
        created=job.metadata.creationTimestamp,
        phase=job.status.phase if job.status else None,
        admitted=admitted(job.status, ref.generation) or job.metadata.name in running,
        actual_cost=job.status.actual_cost.amount if job.status and job.status.actual_cost else 0.0,
    )


class MemorySessions:
    """Sessions in a dictionary, their jobs those of a MemoryStatusStore."""

    def __init__(self, jobs: MemoryStatusStore, sessions: list[QiskitSession] | None = None):
        self._jobs = jobs
        self._lock = threading.Lock()
        self._versions = 0
        self.items: dict[tuple[str, str], QiskitSession] = {}
        for each in sessions or []:
            self.add(each)

    def add(self, session: QiskitSession) -> None:
        with self._lock:
            self._versions += 1
            meta = session.metadata.model_copy(update={"resourceVersion": str(self._versions)})
            key = (meta.namespace, meta.name)
            self.items[key] = session.model_copy(update={"metadata": meta})

    def session(self, namespace: str, name: str) -> QiskitSession | None:
        with self._lock:
            found = self.items.get((namespace, name))
        return None if found is None else found.model_copy(deep=True)

    def sessions(self) -> list[QiskitSession]:
        with self._lock:
            return [s.model_copy(deep=True) for s in self.items.values()]

    def members(self, session: QiskitSession) -> list[Member]:
        found = []
        for listed in self._jobs.jobs():
            job = self._jobs.get(listed.ref.key)
            member = None if job is None else member_of(job, session)
            if member is not None:
                found.append(member)
        return found

    def write_status(self, session: QiskitSession, status: QiskitSessionStatus) -> bool:
        key = (session.metadata.namespace, session.metadata.name)
        with self._lock:
            now = self.items.get(key)
            if now is None or now.metadata.resourceVersion != session.metadata.resourceVersion:
                return False
            self._versions += 1
            meta = now.metadata.model_copy(update={"resourceVersion": str(self._versions)})
            self.items[key] = now.model_copy(update={"status": status, "metadata": meta})
            return True
