"""Reconcile's side of budgets: admit a job by reserving its estimate, settle it when
it ends, roll periods over on the ping.

Called by `reconciling.Reconciler` only, the one writer of budget status. Each
write goes through `BudgetStore.update`, which decides again on fresh state
whenever another writer came first (on a cluster: the API server's 409 on a
stale resourceVersion), so fifty jobs racing for a budget that fits twenty
admit exactly twenty. The entries are keyed by job uid and generation
(`ledger.charge_key`), so an event delivered twice, or replayed after a
restart, reserves or charges nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from qiskit_operator import metrics
from qiskit_operator.budgets import ledger
from qiskit_operator.budgets.stores import BudgetStore
from qiskit_operator.events.payloads import JobRef, JobValidated
from qiskit_operator.models.budget import QiskitBudget, QiskitBudgetStatus
from qiskit_operator.models.phases import Phase
from qiskit_operator.models.status import JobStatus
from qiskit_operator.status.writer import ListedJob

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    admitted: bool
    reason: str = ""
    message: str = ""


class BudgetKeeper:
    def __init__(self, store: BudgetStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def admit(self, work: JobValidated) -> Verdict:
        """Reserve the job's estimate in the budget validate chose for it."""
        name, ref = work.budget, work.job
        if name is None:
            return Verdict(admitted=True)
        amount = work.estimated_cost.amount if work.estimated_cost is not None else 0.0
        key = ledger.charge_key(ref.uid, ref.generation)
        decided: list[ledger.Admission] = []  # the last try's decision, after conflicts

        def decide(budget: QiskitBudget) -> QiskitBudgetStatus | None:
            decided.append(ledger.reserve(budget, key, ref.name, amount, self.clock()))
            return decided[-1].status

        self.store.update(ref.namespace, name, decide)
        if not decided:
            metrics.BUDGET_ADMISSIONS.labels("refused").inc()
            return Verdict(
                admitted=False,
                reason="BudgetNotFound",
                message=f"QiskitBudget {ref.namespace}/{name} was deleted before this job "
                "was admitted; create it again, or name another in spec.budget.name",
            )
        last = decided[-1]
        metrics.BUDGET_ADMISSIONS.labels("admitted" if last.admitted else "refused").inc()
        if not last.admitted:
            return Verdict(admitted=False, reason="BudgetExceeded", message=last.message)
        log.info("%s admitted by budget %s: %.6f reserved", ref.key, name, amount)
        return Verdict(admitted=True)

    def settle(self, ref: JobRef, cost: float | None) -> None:
        """The job's generation ended: charge `cost`, or release it (None)."""
        key = ledger.charge_key(ref.uid, ref.generation)
        self._each(ref.namespace, key, lambda b: ledger.settle(b, key, cost, self.clock()))

    def ended(self, ref: JobRef, status: JobStatus) -> None:
        """The job's generation entered a final phase: a completed run is charged what it
        cost; a failed, rejected or cancelled one gets its reservation back."""
        cost = status.actual_cost.amount if status.actual_cost is not None else None
        self.settle(ref, cost if status.phase is Phase.COMPLETED else None)

    def release(self, namespace: str, uid: str) -> None:
        """The job was cancelled or deleted: whatever it holds reserved goes back."""
        self._each(namespace, f"{uid}/", lambda b: ledger.release_all(b, uid, self.clock()))

    def roll(self) -> int:
        """Every budget's status as of now (a new period, a changed limit); how many changed."""
        changed = 0
        now = self.clock()
        for budget in self.store.budgets(None):
            meta = budget.metadata
            if self.store.update(meta.namespace, meta.name, lambda b: ledger.rolled(b, now)):
                changed += 1
        return changed

    def mend(self, jobs: list[ListedJob]) -> int:
        """Settle every reservation whose job has ended or is gone, as the resync's list
        of `jobs` shows them: a settlement lost with a failed write (or a delete event
        that never came) is made on the next ping. How many budgets changed."""
        by_uid = {job.ref.uid: job for job in jobs}
        changed = 0
        now = self.clock()
        for budget in self.store.budgets(None):
            held = budget.status.charges if budget.status is not None else {}
            due = {
                key: _outcome(by_uid.get(key.split("/", 1)[0]), key)
                for key, charge in held.items()
                if charge.state == "reserved"
            }
            due = {key: cost for key, cost in due.items() if cost is not _RUNNING}
            if not due:
                continue

            def decide(b: QiskitBudget, due: dict[str, object] = due) -> QiskitBudgetStatus | None:
                status: QiskitBudgetStatus | None = None
                for key, cost in due.items():
                    amount = cost if isinstance(cost, float) else None
                    settled = ledger.settle(
                        b if status is None else b.model_copy(update={"status": status}),
                        key,
                        amount,
                        now,
                    )
                    status = settled if settled is not None else status
                return status

            meta = budget.metadata
            if self.store.update(meta.namespace, meta.name, decide) is not None:
                changed += 1
        return changed

    def _each(
        self,
        namespace: str,
        key: str,
        decide: Callable[[QiskitBudget], QiskitBudgetStatus | None],
    ) -> None:
        for budget in self.store.budgets(namespace):
            held = budget.status.charges if budget.status is not None else {}
            if any(k.startswith(key) for k in held):
                self.store.update(namespace, budget.metadata.name, decide)


_RUNNING = object()  # the job still runs this generation: its reservation stays


def _outcome(job: ListedJob | None, key: str) -> object:
    """What the reservation `key` comes to: the job's cost (a float: it completed),
    None (release it: it failed, was cancelled, moved to another generation or is
    gone), or _RUNNING."""
    if job is None:
        return None
    generation = int(key.split("/", 1)[1])
    status = job.status
    if job.ref.generation > generation:
        return None
    if status is None or status.observed_generation != generation or status.phase is None:
        return _RUNNING
    if not status.phase.is_terminal:
        return _RUNNING
    if status.phase is Phase.COMPLETED and status.actual_cost is not None:
        return float(status.actual_cost.amount)
    return None
