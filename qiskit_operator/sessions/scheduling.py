"""Reconcile's side of a QiskitSession: its queue, its turns, its status, its closing.

Called by `reconciling` on `job.held` (validate found a job waiting for its
session), after any job of a session ends, and on the ping (a session past its
maxTime closes even when nothing else happens). Each time it reads the session
and its jobs, lets `queueing.plan` decide, writes the session's status guarded
by its resourceVersion (a conflict: read and decide again), and only then gives
jobs their turn (`SessionAdmitted` on the job, whose status write is the event
validate then acts on) or fails those still waiting when the session closed.
Reconcile is the only writer of both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial

from qiskit_operator import metrics
from qiskit_operator.events.payloads import JobRef
from qiskit_operator.models import JobStatus, Phase
from qiskit_operator.models.session import QiskitSession
from qiskit_operator.sessions import queueing
from qiskit_operator.sessions.holding import JobHeld
from qiskit_operator.sessions.store import ADMITTED, SessionStore, waiting_turn
from qiskit_operator.status.conditions import set_condition
from qiskit_operator.status.writer import StatusWriter

MAX_CONFLICTS = 8
log = logging.getLogger(__name__)
Fail = Callable[[JobRef, str], None]


class SessionScheduler:
    def __init__(
        self, sessions: SessionStore, writer: StatusWriter, clock: Callable[[], datetime]
    ) -> None:
        self.sessions = sessions
        self.writer = writer
        self.clock = clock

    def held(self, held: JobHeld, fail: Fail) -> None:
        """The job waits for its turn: say so on it, then give out turns."""
        ref = held.job
        now = self.clock()
        if self.writer.update(ref, lambda s: waiting(s, ref, held.session, now)) is not None:
            self.writer.record_event(
                ref, "Normal", "SessionWaiting", f"waiting for its turn in session {held.session}"
            )
        self.schedule(ref.namespace, held.session, fail)

    def job_ended(self, ref: JobRef, fail: Fail) -> None:
        """A job ended: if a session was running it, that session's next turn."""
        for session in self.sessions.sessions():
            meta, status = session.metadata, session.status
            if meta.namespace == ref.namespace and status and ref.name in status.running:
                self.schedule(meta.namespace, meta.name, fail)

    def tick(self, fail: Fail) -> None:
        """The ping: every session's status brought up to now; those past maxTime close."""
        for session in self.sessions.sessions():
            if session.status is None or session.status.state != "Closed":
                self.schedule(session.metadata.namespace, session.metadata.name, fail)

    def schedule(self, namespace: str, name: str, fail: Fail) -> list[JobRef]:
        """Decide and write the session's status, then give out its turns; the jobs given one."""
        for _ in range(MAX_CONFLICTS):
            session = self.sessions.session(namespace, name)
            if session is None:
                return []
            plan = queueing.plan(session, self.sessions.members(session), self.clock())
            if not plan.admit and not plan.close and _same(session, plan):
                return []
            if self.sessions.write_status(session, plan.status):
                self._carry_out(session, plan, fail)
                return plan.admit
        log.warning("session %s/%s: status kept changing; left to the next event", namespace, name)
        return []

    def _carry_out(self, session: QiskitSession, plan: queueing.SessionPlan, fail: Fail) -> None:
        name = session.metadata.name
        now = self.clock()
        for ref in plan.admit:
            if self.writer.update(ref, partial(given_turn, ref=ref, session=name, now=now)):
                metrics.SESSION_TURNS.labels("given").inc()
                self.writer.record_event(
                    ref, "Normal", "SessionTurn", f"its turn in session {name}"
                )
        for ref in plan.close:
            metrics.SESSION_TURNS.labels("closed_out").inc()
            fail(ref, queueing.closed_message(session))
        for position, ref in enumerate(plan.waiting, start=1):
            self.writer.update(
                ref, partial(waiting, ref=ref, session=name, now=now, position=position)
            )


def _same(session: QiskitSession, plan: queueing.SessionPlan) -> bool:
    """Whether writing the plan's status would change nothing but the time used."""
    if session.status is None:
        return False
    keep = {"time_used_seconds"}
    return session.status.model_dump(exclude=keep) == plan.status.model_dump(exclude=keep)


def waiting(
    current: JobStatus | None, ref: JobRef, session: str, now: datetime, position: int | None = None
) -> JobStatus | None:
    """The job waits in its session's queue; None when it says so already (no write, so
    no event), or has moved on."""
    current = current or _seen(ref, now)
    if current.observed_generation != ref.generation:
        return None
    if current.phase is not None and current.phase not in (Phase.PENDING, Phase.VALIDATING):
        return None
    message = f"waiting for its turn in session {session}" + (
        f" (position {position})" if position else ""
    )
    if position is None and (current.message or "").startswith(message):
        return None  # the scheduler's own position is more precise
    if current.message == message and waiting_turn(current, ref.generation):
        return None
    status = current.model_copy(deep=True)
    status.message = message
    status.conditions = set_condition(
        status.conditions,
        type_=ADMITTED,
        status="False",
        reason="WaitingForTurn",
        message=f"waiting for its turn in session {session}",
        generation=ref.generation,
        now=now,
    )
    return status


def given_turn(
    current: JobStatus | None, ref: JobRef, session: str, now: datetime
) -> JobStatus | None:
    """The session lets this generation run: validate takes it up on this write."""
    current = current or _seen(ref, now)
    if current.observed_generation != ref.generation:
        return None
    if current.phase is not None and current.phase.is_terminal:
        return None
    status = current.model_copy(deep=True)
    status.message = f"its turn in session {session}: validating"
    status.conditions = set_condition(
        status.conditions,
        type_=ADMITTED,
        status="True",
        reason="SessionTurn",
        message=f"its turn in session {session}",
        generation=ref.generation,
        now=now,
    )
    return status


def _seen(ref: JobRef, now: datetime) -> JobStatus:
    """A job reconcile had not written yet: as `transitions.seen` would start it."""
    return JobStatus(
        phase=Phase.VALIDATING,
        observed_generation=ref.generation,
        message="Validating the circuit",
        start_time=now,
    )
