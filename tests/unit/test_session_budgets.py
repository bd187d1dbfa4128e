"""A QiskitSession's job that a QiskitBudget also answers for, or that is cancelled:
the session's turn comes first, the budget's reservation in that turn, and a job that
ends either way (refused by its budget, cancelled) gives the next job its turn."""

from __future__ import annotations

import copy
from pathlib import Path

import msgspec

from qiskit_operator.budgets.admitting import BudgetKeeper
from qiskit_operator.budgets.stores import MemoryBudgets
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.models import Phase, QiskitJob
from qiskit_operator.models.budget import QiskitBudget
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from tests import replies
from tests.unit.test_session_turns import Rig, a_session


def with_budget(rig: Rig, tmp_path: Path, limit: float) -> MemoryBudgets:
    """The rig's reconcile, keeping a QiskitBudget `b` of `limit` beside the session."""
    budgets = MemoryBudgets(
        [QiskitBudget.model_validate({"metadata": {"name": "b"}, "spec": {"limit": limit}})]
    )
    rig.reconcile = Reconciler(
        rig.jobs,
        ResultStore(tmp_path),
        clock=rig.clock,
        sessions=rig.sessions,
        budgets=BudgetKeeper(budgets, rig.clock),
    )
    return budgets


def budgeted(rig: Rig, ref: payloads.JobRef, estimate: float) -> Envelope | None:
    """Validate's answer for the job in its turn: its estimate, for budget `b` to admit."""
    work = msgspec.structs.replace(
        replies.validated(ref), estimated_cost=payloads.Cost(amount=estimate), budget="b"
    )
    event = Envelope(type=types.JOB_BUDGETED, source="/t", data=payloads.encode(work))
    return rig.reconcile.handle(event)


def test_a_waiting_job_holds_no_reservation_and_is_budgeted_in_its_turn(tmp_path: Path) -> None:
    rig = Rig(tmp_path, a_session())
    budgets = with_budget(rig, tmp_path, limit=1.0)
    first = rig.submit("first")
    second = rig.submit("second", second=1)
    assert rig.given_turn(first) and not rig.given_turn(second)
    answer = budgeted(rig, first, 0.4)
    assert answer is not None and answer.type == types.JOB_VALIDATED
    (budget,) = budgets.budgets("default")
    assert budget.status is not None and budget.status.reserved == 0.4  # the second's: none

    rig.finish(first)
    assert rig.given_turn(second)
    answer = budgeted(rig, second, 0.4)
    assert answer is not None and answer.type == types.JOB_VALIDATED


def test_a_job_its_budget_refuses_fails_and_gives_the_next_its_turn(tmp_path: Path) -> None:
    rig = Rig(tmp_path, a_session())
    budgets = with_budget(rig, tmp_path, limit=0.5)
    costly = rig.submit("costly")
    cheap = rig.submit("cheap", second=1)
    budgeted(rig, costly, 2.0)
    status = rig.job(costly).status
    assert status is not None and status.phase is Phase.FAILED
    assert any(c.reason == "BudgetExceeded" for c in status.conditions)
    assert rig.given_turn(cheap)
    (budget,) = budgets.budgets("default")
    assert budget.status is not None and budget.status.reserved == 0


def test_cancelling_the_running_job_gives_the_next_its_turn(tmp_path: Path) -> None:
    rig = Rig(tmp_path, a_session())
    running = rig.submit("running")
    waiting = rig.submit("waiting", second=1)
    rig.reconcile.handle(replies.envelope(replies.validated(running)))
    obj = copy.deepcopy(rig.objects["running"])
    obj["spec"]["cancel"] = True
    obj["metadata"]["generation"] = running.generation + 1  # the API server's, on a spec change
    current = rig.job(running)
    rig.jobs.add(QiskitJob.model_validate(obj).model_copy(update={"status": current.status}))
    answer = rig.reconcile.handle(resource_event(obj, types.APISERVER_UPDATE))
    assert answer is not None and answer.type == types.EXECUTION_CANCEL
    status = rig.job(running).status
    assert status is not None and status.phase is Phase.CANCELLED
    assert rig.given_turn(waiting)
    session = rig.session().status
    assert session is not None and session.running == ["waiting"]
