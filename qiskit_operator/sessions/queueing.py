"""Which of a session's jobs run next, and whether the session has closed: pure.

Called by `scheduling` (reconcile) with the session and its jobs as the API
server has them now; it returns the session's status and the jobs to let run
or to fail, and writes nothing. Jobs wait in order of priority (urgent, high,
normal, low), then of submission (creationTimestamp, then name). A dedicated
session runs one job at a time; a batch session up to BATCH_SLOTS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from qiskit_operator.durations import parse_duration
from qiskit_operator.events.payloads import JobRef
from qiskit_operator.models.money import Money
from qiskit_operator.models.phases import Phase
from qiskit_operator.models.session import QiskitSession, QiskitSessionStatus

PRIORITY_RANK = {"urgent": 3, "high": 2, "normal": 1, "low": 0}
BATCH_SLOTS = 4
_EPOCH = datetime.min


@dataclass(frozen=True, slots=True)
class Member:
    """One job that names the session, as the API server has it now."""

    ref: JobRef
    priority: str
    created: datetime | None
    phase: Phase | None
    admitted: bool
    """Whether the session let this generation run (`SessionAdmitted`, set by reconcile)."""
    actual_cost: float = 0.0


@dataclass(frozen=True, slots=True)
class SessionPlan:
    status: QiskitSessionStatus
    admit: list[JobRef] = field(default_factory=list)
    """Jobs whose turn it is now."""
    close: list[JobRef] = field(default_factory=list)
    """Jobs still waiting when the session closed: they fail saying so."""
    waiting: list[JobRef] = field(default_factory=list)
    """The jobs still waiting after this plan, in the order they will run."""

    @property
    def closing_message(self) -> str:
        return self.status.message or ""


def turn_order(member: Member) -> tuple[int, datetime, str]:
    created = member.created.replace(tzinfo=None) if member.created else _EPOCH
    return (-PRIORITY_RANK.get(member.priority, 1), created, member.ref.name)


def plan(session: QiskitSession, members: list[Member], now: datetime) -> SessionPlan:
    """The session's status now, who runs next and who fails because it closed."""
    before = session.status or QiskitSessionStatus()
    running = [m for m in members if m.admitted and not _finished(m)]
    waiting = sorted((m for m in members if not m.admitted and not _finished(m)), key=turn_order)
    ran = [m for m in members if m.admitted and _finished(m)]
    max_time = timedelta(seconds=parse_duration(session.spec.max_time))
    opened = before.opened_at
    closed = before.state == "Closed" or (opened is not None and now - opened >= max_time)
    admit: list[Member] = []
    if not closed:
        slots = 1 if session.spec.mode == "dedicated" else BATCH_SLOTS
        admit = waiting[: max(0, slots - len(running))]
        if admit and opened is None:
            opened = now
    left = [m for m in waiting if m not in admit]
    closed_at = (before.closed_at or min(now, opened + max_time)) if closed and opened else None
    status = QiskitSessionStatus(
        state="Closed" if closed else "Open",
        opened_at=opened,
        closed_at=closed_at,
        running=sorted(m.ref.name for m in [*running, *admit]),
        waiting=0 if closed else len(left),
        jobs_run=len(ran),
        time_used_seconds=round(((closed_at or now) - opened).total_seconds(), 3)
        if opened
        else 0.0,
        cost=Money(amount=round(sum(m.actual_cost for m in members if m.admitted), 6)),
        observed_generation=session.metadata.generation,
        message=(
            f"closed: its maxTime {session.spec.max_time} was reached; jobs still waiting failed"
            if closed
            else f"open: {len(running) + len(admit)} running, {len(left)} waiting"
            if opened
            else f"open: waiting for its first job ({session.spec.mode})"
        ),
    )
    return SessionPlan(
        status=status,
        admit=[m.ref for m in admit],
        close=[m.ref for m in left] if closed else [],
        waiting=[] if closed else [m.ref for m in left],
    )


def closed_message(session: QiskitSession) -> str:
    """What a job that was still waiting says when its session closed."""
    return (
        f"session {session.metadata.name} closed before this job's turn: its maxTime "
        f"{session.spec.max_time} was reached; raise spec.maxTime or use a new session, "
        "and apply the job again"
    )


def _finished(member: Member) -> bool:
    return member.phase is not None and member.phase.is_terminal
