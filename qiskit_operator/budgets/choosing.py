"""Which QiskitBudget a job answers to, and validate's early refusal.

Validate calls `governing` with the budgets of the job's namespace: the one the
job names (`spec.budget.name`), else the one for its `spec.budget.costCenter`,
else the namespace's budget without a cost center; none of those, no budget
applies. A named budget that does not exist refuses the job, saying which
budgets there are. `check` refuses a job whose estimate is over what the budget
had left when validate read it: a quick answer for the obvious case; reconcile's
reservation (`admitting`) is the exact one, under concurrency.
"""

from __future__ import annotations

from datetime import datetime

from qiskit_operator.budgets import ledger
from qiskit_operator.errors import UserError
from qiskit_operator.models.budget import QiskitBudget
from qiskit_operator.models.spec import BudgetSpec


def governing(
    wanted: BudgetSpec | None, namespace: str, budgets: list[QiskitBudget]
) -> QiskitBudget | None:
    """The budget a job with `spec.budget` `wanted` in `namespace` is charged to."""
    ours = sorted(
        (b for b in budgets if b.metadata.namespace == namespace), key=lambda b: b.metadata.name
    )
    name = wanted.name if wanted is not None else None
    if name is not None:
        for budget in ours:
            if budget.metadata.name == name:
                return budget
        there = ", ".join(b.metadata.name for b in ours) or "none"
        raise UserError(
            f"spec.budget.name is {name}, but there is no QiskitBudget {name} in namespace "
            f"{namespace} (budgets there: {there}); create it (examples/budget.yaml) or name "
            "one of those",
            reason="BudgetNotFound",
        )
    center = wanted.cost_center if wanted is not None else None
    for budget in ours:
        if budget.spec.cost_center == center:
            return budget
    return None


def check(budget: QiskitBudget, amount: float, now: datetime) -> None:
    """Refuse now a job whose estimate `amount` is over what `budget` has left."""
    status = ledger.current(budget, now)
    if amount > (status.remaining or 0.0) + 1e-9:
        raise UserError(ledger.refusal(budget, status, amount), reason="BudgetExceeded")
