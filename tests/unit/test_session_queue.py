"""A QiskitSession's queue: who runs next, and when it closes (sessions/queueing.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pydantic
import pytest

from qiskit_operator.events.payloads import JobRef
from qiskit_operator.models import Phase
from qiskit_operator.models.job import ObjectMeta
from qiskit_operator.models.session import QiskitSession, QiskitSessionSpec, QiskitSessionStatus
from qiskit_operator.models.spec import BackendSpec
from qiskit_operator.sessions.queueing import Member, closed_message, plan

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def session(mode: str = "dedicated", max_time: str = "10m", **status: object) -> QiskitSession:
    return QiskitSession(
        metadata=ObjectMeta(name="s", namespace="team", generation=1),
        spec=QiskitSessionSpec.model_validate(
            {"mode": mode, "backend": BackendSpec(), "maxTime": max_time}
        ),
        status=QiskitSessionStatus.model_validate(status) if status else None,
    )


def member(
    name: str,
    priority: str = "normal",
    at: int = 0,
    phase: Phase | None = Phase.VALIDATING,
    admitted: bool = False,
) -> Member:
    ref = JobRef(namespace="team", name=name, uid=f"uid-{name}", generation=1)
    return Member(ref, priority, T0 + timedelta(seconds=at), phase, admitted)


def names(refs: list[JobRef]) -> list[str]:
    return [r.name for r in refs]


def test_a_dedicated_session_runs_one_job_at_a_time_in_submission_order() -> None:
    decided = plan(session(), [member("b", at=2), member("a", at=1), member("c", at=3)], T0)
    assert names(decided.admit) == ["a"]
    assert names(decided.waiting) == ["b", "c"]
    assert decided.status.state == "Open" and decided.status.opened_at == T0
    assert decided.status.running == ["a"] and decided.status.waiting == 2


def test_priority_goes_before_submission_order() -> None:
    members = [
        member("early-low", "low", at=1),
        member("late-urgent", "urgent", at=9),
        member("mid-high", "high", at=5),
        member("normal", at=2),
    ]
    decided = plan(session(mode="batch"), members, T0)
    assert names(decided.admit) == ["late-urgent", "mid-high", "normal", "early-low"]


def test_nothing_else_runs_while_a_dedicated_sessions_job_runs() -> None:
    running = member("a", phase=Phase.SCHEDULED, admitted=True)
    decided = plan(session(state="Open", openedAt=T0), [running, member("b", at=1)], T0)
    assert decided.admit == [] and names(decided.waiting) == ["b"]


def test_the_next_job_runs_once_the_last_one_ended_and_is_counted() -> None:
    done = member("a", phase=Phase.COMPLETED, admitted=True)
    decided = plan(session(state="Open", openedAt=T0), [done, member("b", at=1)], T0)
    assert names(decided.admit) == ["b"]
    assert decided.status.jobs_run == 1


def test_a_batch_session_runs_several_jobs_at_once() -> None:
    decided = plan(session(mode="batch"), [member(str(i), at=i) for i in range(6)], T0)
    assert names(decided.admit) == ["0", "1", "2", "3"]
    assert names(decided.waiting) == ["4", "5"]


def test_at_max_time_the_session_closes_and_its_waiting_jobs_fail() -> None:
    running = member("a", phase=Phase.SCHEDULED, admitted=True)
    later = T0 + timedelta(minutes=10)
    decided = plan(session(state="Open", openedAt=T0), [running, member("b", at=1)], later)
    assert decided.status.state == "Closed"
    assert decided.status.closed_at == later
    assert decided.admit == []
    assert names(decided.close) == ["b"]  # the running one finishes
    assert decided.status.running == ["a"]
    assert decided.status.time_used_seconds == 600.0


def test_a_closed_session_stays_closed_and_runs_nothing() -> None:
    closed = session(state="Closed", openedAt=T0, closedAt=T0 + timedelta(minutes=10))
    decided = plan(closed, [member("late", at=900)], T0 + timedelta(hours=1))
    assert decided.status.state == "Closed" and decided.admit == []
    assert names(decided.close) == ["late"]
    assert decided.status.time_used_seconds == 600.0


def test_max_time_is_counted_from_the_first_job_not_from_creation() -> None:
    decided = plan(session(max_time="1s"), [member("a")], T0 + timedelta(days=1))
    assert decided.status.state == "Open" and names(decided.admit) == ["a"]


def test_a_job_failed_by_a_closed_session_says_so_and_what_to_change() -> None:
    message = closed_message(session(max_time="90s"))
    assert "session s closed before this job's turn" in message
    assert "maxTime 90s" in message and "raise spec.maxTime" in message


@pytest.mark.parametrize("max_time", ["0s", "soon", "-5m"])
def test_a_max_time_that_is_not_a_duration_is_refused(max_time: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        QiskitSessionSpec.model_validate({"backend": {}, "maxTime": max_time})
