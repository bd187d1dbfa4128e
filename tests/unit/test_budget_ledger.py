"""One QiskitBudget's account: reserve, charge, release, roll over (budgets.ledger)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qiskit_operator.budgets import choosing, ledger
from qiskit_operator.budgets.admitting import BudgetKeeper
from qiskit_operator.budgets.stores import MemoryBudgets
from qiskit_operator.errors import UserError
from qiskit_operator.events.payloads import JobRef
from qiskit_operator.models import JobStatus, Phase
from qiskit_operator.models.budget import QiskitBudget, QiskitBudgetStatus
from qiskit_operator.models.money import Money
from qiskit_operator.models.spec import BudgetSpec
from qiskit_operator.status.writer import ListedJob

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
NEXT_MONTH = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)


def budget(
    limit: float = 10.0, status: QiskitBudgetStatus | None = None, **spec: str
) -> QiskitBudget:
    return QiskitBudget.model_validate(
        {
            "metadata": {"name": "monthly", "namespace": "team-a", "generation": 1},
            "spec": {"limit": limit, **spec},
            "status": status.model_dump(by_alias=True) if status else None,
        }
    )


def after(b: QiskitBudget, status: QiskitBudgetStatus | None) -> QiskitBudget:
    assert status is not None
    return b.model_copy(update={"status": status})


def test_a_reservation_holds_the_estimate_until_the_job_is_charged_its_actual_cost() -> None:
    admitted = ledger.reserve(budget(), "uid-1/1", "bell", 4.0, NOW)
    assert admitted.admitted
    held = after(budget(), admitted.status)
    assert (held.status.reserved, held.status.remaining) == (4.0, 6.0)  # type: ignore[union-attr]
    charged = ledger.settle(held, "uid-1/1", 1.5, NOW)
    assert charged is not None
    assert (charged.spent, charged.reserved, charged.remaining) == (1.5, 0.0, 8.5)


def test_an_estimate_over_what_remains_is_refused_naming_the_budget_and_what_is_left() -> None:
    held = after(budget(), ledger.reserve(budget(), "uid-1/1", "a", 7.0, NOW).status)
    refused = ledger.reserve(held, "uid-2/1", "b", 5.0, NOW)
    assert not refused.admitted
    assert "QiskitBudget team-a/monthly has 3.00 USD of its 10.00 USD left this month" in (
        refused.message
    )
    assert "kubectl -n team-a edit qbudget monthly" in refused.message


def test_reserving_or_charging_a_job_twice_changes_nothing() -> None:
    held = after(budget(), ledger.reserve(budget(), "uid-1/1", "a", 4.0, NOW).status)
    again = ledger.reserve(held, "uid-1/1", "a", 4.0, NOW)
    assert again.admitted and again.status is None
    charged = after(held, ledger.settle(held, "uid-1/1", 2.0, NOW))
    assert ledger.settle(charged, "uid-1/1", 2.0, NOW) is None
    assert ledger.settle(charged, "uid-1/1", None, NOW) is None


def test_a_cancelled_jobs_reservations_go_back_and_its_charges_stay() -> None:
    b = after(budget(), ledger.reserve(budget(), "uid-1/1", "a", 4.0, NOW).status)
    b = after(b, ledger.settle(b, "uid-1/1", 1.0, NOW))
    b = after(b, ledger.reserve(b, "uid-1/2", "a", 3.0, NOW).status)
    released = ledger.release_all(b, "uid-1", NOW)
    assert released is not None
    assert (released.spent, released.reserved, released.remaining) == (1.0, 0.0, 9.0)


def test_a_new_period_starts_from_nothing_spent_and_keeps_running_jobs_reservations() -> None:
    b = after(budget(), ledger.reserve(budget(), "uid-1/1", "a", 4.0, NOW).status)
    b = after(b, ledger.settle(b, "uid-1/1", 4.0, NOW))
    b = after(b, ledger.reserve(b, "uid-2/1", "b", 2.0, NOW).status)
    rolled = ledger.rolled(b, NEXT_MONTH)
    assert rolled is not None
    assert (rolled.spent, rolled.reserved, rolled.remaining) == (0.0, 2.0, 8.0)
    assert rolled.period_start == datetime(2026, 12, 1, tzinfo=UTC)
    assert rolled.period_end == datetime(2027, 1, 1, tzinfo=UTC)
    assert ledger.rolled(after(b, rolled), NEXT_MONTH) is None


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("day", datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
        ("week", datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)),
        ("month", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
    ],
)
def test_periods_are_utc_days_weeks_from_monday_and_calendar_months(
    period: str, start: datetime, end: datetime
) -> None:
    assert ledger.period_bounds(period, NOW) == (start, end)


def test_a_job_naming_a_budget_that_does_not_exist_is_refused_saying_which_exist() -> None:
    with pytest.raises(UserError, match="no QiskitBudget yearly in namespace team-a") as refused:
        choosing.governing(BudgetSpec(name="yearly"), "team-a", [budget()])
    assert "budgets there: monthly" in refused.value.message


def test_a_job_naming_no_budget_answers_to_the_one_for_its_cost_center() -> None:
    physics = budget(cost_center="physics")
    assert choosing.governing(BudgetSpec(cost_center="physics"), "team-a", [physics]) is physics
    assert choosing.governing(None, "team-a", [physics]) is None
    assert choosing.governing(None, "team-b", [budget()]) is None


def test_validate_refuses_at_once_an_estimate_plainly_over_the_budget() -> None:
    with pytest.raises(UserError, match=r"estimated at 12\.00 USD"):
        choosing.check(budget(), 12.0, NOW)


def test_the_ping_settles_reservations_whose_settlement_was_lost() -> None:
    held = budget(limit=10.0)
    for uid in ("done", "gone", "running"):
        held = after(held, ledger.reserve(held, f"{uid}/1", uid, 2.0, NOW).status)
    store = MemoryBudgets([held])
    keeper = BudgetKeeper(store, lambda: NOW)

    def listed(uid: str, phase: Phase, cost: float | None = None) -> ListedJob:
        ref = JobRef(namespace="team-a", name=uid, uid=uid, generation=1)
        money = Money(amount=cost) if cost is not None else None
        return ListedJob(ref, JobStatus(phase=phase, observed_generation=1, actual_cost=money), NOW)

    jobs = [listed("done", Phase.COMPLETED, 1.25), listed("running", Phase.SCHEDULED)]
    assert keeper.mend(jobs) == 1
    (mended,) = store.budgets("team-a")
    assert mended.status is not None
    assert (mended.status.spent, mended.status.reserved) == (1.25, 2.0)
    assert set(mended.status.charges) == {"done/1", "running/1"}
    assert keeper.mend(jobs) == 0
