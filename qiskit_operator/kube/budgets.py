"""`BudgetStore` on the Kubernetes API: QiskitBudgets read by validate, their status
written by reconcile.

A status write replaces `/status` whole with the resourceVersion it was read at:
when another reconcile wrote first the API server answers 409, and the decision
is made again on the budget as it is now (`budgets.admitting`). That is what
keeps concurrent admissions from spending the same remainder twice. An object
that does not parse is skipped with a warning.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import pydantic

from qiskit_operator import metrics
from qiskit_operator.budgets.stores import DecideBudget
from qiskit_operator.errors import TransientError
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.errors import APIConflictError, APINotFoundError, call_api
from qiskit_operator.models import GROUP, VERSION
from qiskit_operator.models.budget import QiskitBudget, QiskitBudgetStatus

PLURAL = "qiskitbudgets"
log = logging.getLogger(__name__)


class KubeBudgets:
    def __init__(self, connection: KubeConnection, conflict_retries: int = 200) -> None:
        self._connection = connection
        self._retries = conflict_retries
        self.conflicts = 0

    def budgets(self, namespace: str | None) -> list[QiskitBudget]:
        custom = self._connection.custom()
        try:
            if namespace is None:
                listed: dict[str, Any] = call_api(
                    "listing qiskitbudgets",
                    custom.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    PLURAL,
                )
            else:
                listed = call_api(
                    f"listing qiskitbudgets in {namespace}",
                    custom.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    namespace,
                    PLURAL,
                )
        except APINotFoundError:
            return []  # no QiskitBudget CRD: no budget applies
        found = []
        for item in listed.get("items", []):
            parsed = _parsed(item)
            if parsed is not None:
                found.append(parsed)
        return found

    def update(self, namespace: str, name: str, decide: DecideBudget) -> QiskitBudgetStatus | None:
        custom = self._connection.custom()
        for attempt in range(self._retries):
            try:
                item = call_api(
                    f"reading qiskitbudget {namespace}/{name}",
                    custom.get_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    namespace,
                    PLURAL,
                    name,
                )
            except APINotFoundError:
                return None
            budget = _parsed(item)
            if budget is None:
                return None
            status = decide(budget)
            if status is None:
                return None
            item["status"] = status.model_dump(mode="json", by_alias=True, exclude_none=True)
            try:
                # The body carries the resourceVersion read above: a write in between is a 409.
                call_api(
                    f"writing qiskitbudget {namespace}/{name}/status",
                    custom.replace_namespaced_custom_object_status,
                    GROUP,
                    VERSION,
                    namespace,
                    PLURAL,
                    name,
                    item,
                )
            except APIConflictError:
                self.conflicts += 1
                metrics.BUDGET_CONFLICTS.inc()
                # Spread the retries of many writers racing for one budget.
                time.sleep(random.uniform(0, min(0.2, 0.005 * (attempt + 1))))
                continue
            except APINotFoundError:
                return None
            return status
        raise TransientError(
            f"qiskitbudget {namespace}/{name} changed under {self._retries} writes in a row"
        )


def _parsed(item: dict[str, Any]) -> QiskitBudget | None:
    try:
        return QiskitBudget.model_validate(item)
    except pydantic.ValidationError as error:
        meta = item.get("metadata", {})
        log.warning(
            "qiskitbudget %s/%s skipped: %s",
            meta.get("namespace", "?"),
            meta.get("name", "?"),
            error.errors()[0]["msg"],
        )
        return None
