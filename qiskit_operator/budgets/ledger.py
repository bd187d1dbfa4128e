"""One QiskitBudget's account for its current period, as pure functions of its status.

Reconcile's `admitting` calls these inside an optimistic-concurrency loop: each
decision is made on the budget as the API server has it now, and written with
the resourceVersion it was read at, so two admissions never both spend the same
remainder. Every job's part is an entry of `status.charges` keyed by the job's
uid and generation: reserving or charging a job already there changes nothing,
which is what makes a replayed event or a restarted reconcile harmless.

Totals are always recomputed from the entries. A period rolls over on the first
decision after its end: charged entries go, reservations of jobs still running
move into the new period (their charge lands there).
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from qiskit_operator.models.budget import Charge, QiskitBudget, QiskitBudgetStatus

WHICH = {"day": "today", "week": "this week", "month": "this month"}


def charge_key(uid: str, generation: int) -> str:
    """The key of a job's entry: its uid and the generation whose run it pays for."""
    return f"{uid}/{generation}"


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """The UTC period (day, week from Monday, calendar month) that `now` falls in."""
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    return start, start + timedelta(days=monthrange(now.year, now.month)[1])


def current(budget: QiskitBudget, now: datetime) -> QiskitBudgetStatus:
    """The budget's status in the period of `now`: rolled over if that period is new,
    totals recomputed."""
    status = (budget.status or QiskitBudgetStatus()).model_copy(deep=True)
    start, end = period_bounds(budget.spec.period, now)
    if status.period_start != start or status.period_end != end:
        status.charges = {k: c for k, c in status.charges.items() if c.state == "reserved"}
        status.period_start, status.period_end = start, end
    status.observed_generation = budget.metadata.generation
    return _totalled(budget, status)


def _totalled(budget: QiskitBudget, status: QiskitBudgetStatus) -> QiskitBudgetStatus:
    charges = status.charges.values()
    status.spent = round(sum(c.amount for c in charges if c.state == "charged"), 6)
    status.reserved = round(sum(c.amount for c in charges if c.state == "reserved"), 6)
    status.remaining = round(budget.spec.limit - status.spent - status.reserved, 6)
    status.jobs = len(status.charges)
    status.message = (
        f"{status.remaining:.2f} of {budget.spec.limit:.2f} {budget.spec.currency} left "
        f"{WHICH[budget.spec.period]}"
    )
    return status


@dataclass(frozen=True, slots=True)
class Admission:
    """What `reserve` decided: the status to write (None: nothing changes) and whether
    the job may run, with the message that says why not."""

    status: QiskitBudgetStatus | None
    admitted: bool
    message: str = ""


def reserve(budget: QiskitBudget, key: str, job: str, amount: float, now: datetime) -> Admission:
    """Hold `amount` for job `key` if what remains covers it."""
    status = current(budget, now)
    if key in status.charges:
        return Admission(_changed(budget, status), admitted=True)  # already decided: a replay
    if amount > (status.remaining or 0.0) + 1e-9:
        return Admission(
            _changed(budget, status), admitted=False, message=refusal(budget, status, amount)
        )
    status.charges[key] = Charge(job=job, amount=round(amount, 6), state="reserved")
    return Admission(_totalled(budget, status), admitted=True)


def settle(
    budget: QiskitBudget, key: str, cost: float | None, now: datetime
) -> QiskitBudgetStatus | None:
    """Job `key` ended: charge it `cost`, or release its reservation when `cost` is None
    (it failed or was cancelled before it used anything billed). None: nothing to
    change (not this budget's job, or settled already)."""
    status = current(budget, now)
    entry = status.charges.get(key)
    if entry is None or entry.state == "charged":
        return _changed(budget, status)
    if cost is None:
        del status.charges[key]
    else:
        status.charges[key] = Charge(job=entry.job, amount=round(cost, 6), state="charged")
    return _totalled(budget, status)


def release_all(budget: QiskitBudget, uid: str, now: datetime) -> QiskitBudgetStatus | None:
    """Every reservation of job `uid`, whatever its generation, is released (the job was
    cancelled or deleted); its charges stay."""
    status = current(budget, now)
    held = [
        k for k, c in status.charges.items() if k.startswith(f"{uid}/") and c.state == "reserved"
    ]
    for key in held:
        del status.charges[key]
    return _totalled(budget, status) if held else _changed(budget, status)


def rolled(budget: QiskitBudget, now: datetime) -> QiskitBudgetStatus | None:
    """The status to write on the ping: a new period, a changed spec, or none yet."""
    return _changed(budget, current(budget, now))


def _changed(budget: QiskitBudget, status: QiskitBudgetStatus) -> QiskitBudgetStatus | None:
    return None if budget.status == status else status


def refusal(budget: QiskitBudget, status: QiskitBudgetStatus, amount: float) -> str:
    spec, name = budget.spec, budget.metadata.name
    ns = budget.metadata.namespace
    until = status.period_end.date().isoformat() if status.period_end else "the period's end"
    return (
        f"this job is estimated at {amount:.2f} {spec.currency} but QiskitBudget {ns}/{name} "
        f"has {max(0.0, status.remaining or 0.0):.2f} {spec.currency} of its "
        f"{spec.limit:.2f} {spec.currency} left {WHICH[spec.period]} (until {until}); raise "
        f"its spec.limit (kubectl -n {ns} edit qbudget {name}), or ask for fewer shots or "
        "parameter sets"
    )
