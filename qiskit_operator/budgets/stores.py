"""Where QiskitBudgets are read and their status written: the `BudgetStore` interface
and its in-memory form.

Validate reads (`budgets`); reconcile alone writes (`update`). On a cluster the
store is the Kubernetes API (`kube.budgets`, the resourceVersion read guarding
each write); `MemoryBudgets` serves `qop run`, which has one reconcile and a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from qiskit_operator.models.budget import QiskitBudget, QiskitBudgetStatus

DecideBudget = Callable[[QiskitBudget], QiskitBudgetStatus | None]


class BudgetStore(Protocol):
    def budgets(self, namespace: str | None) -> list[QiskitBudget]:
        """The QiskitBudgets of `namespace`; None: of every namespace."""
        ...

    def update(self, namespace: str, name: str, decide: DecideBudget) -> QiskitBudgetStatus | None:
        """Read the budget, let `decide` compute its new status and write it, deciding
        again on fresh state if another writer came first. Returns what was written;
        None when `decide` changed nothing or the budget is gone."""
        ...


class MemoryBudgets:
    """Budgets held in memory: `qop run`'s (from the job file's directory) and the tests'."""

    def __init__(self, budgets: Iterable[QiskitBudget] = ()) -> None:
        self._lock = threading.Lock()
        self._budgets = {(b.metadata.namespace, b.metadata.name): b for b in budgets}

    def add(self, budget: QiskitBudget) -> None:
        with self._lock:
            self._budgets[(budget.metadata.namespace, budget.metadata.name)] = budget

    def budgets(self, namespace: str | None) -> list[QiskitBudget]:
        with self._lock:
            return [b for (ns, _), b in self._budgets.items() if namespace in (None, ns)]

    def update(self, namespace: str, name: str, decide: DecideBudget) -> QiskitBudgetStatus | None:
        with self._lock:
            budget = self._budgets.get((namespace, name))
            if budget is None:
                return None
            status = decide(budget)
            if status is not None:
                self._budgets[(namespace, name)] = budget.model_copy(update={"status": status})
            return status
