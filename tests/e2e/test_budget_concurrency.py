"""No double spending, on a real kube-apiserver: fifty jobs race for a QiskitBudget that
fits twenty, through reconcile's own ServiceAccount (its RBAC), with as many clients as
a scaled-out reconcile has replicas. The API server's optimistic concurrency on the
budget's status (a stale resourceVersion is a 409) is what lets exactly twenty in.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import msgspec

from qiskit_operator.budgets.admitting import BudgetKeeper
from qiskit_operator.events.payloads import Cost, JobRef
from qiskit_operator.kube.budgets import KubeBudgets
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.local.devcluster import DevCluster
from tests import replies

NS = "budget-race"
JOBS = 50
FITS = 20
ESTIMATE = 0.01
REPLICAS = 10

BUDGET = {
    "apiVersion": "quantum.io/v1",
    "kind": "QiskitBudget",
    "metadata": {"name": "race", "namespace": NS},
    "spec": {"limit": FITS * ESTIMATE, "period": "month", "costCenter": "physics"},
}


def ref(index: int) -> JobRef:
    return JobRef(namespace=NS, name=f"job-{index}", uid=f"uid-{index:02d}", generation=1)


def budget_status(cluster: DevCluster) -> dict[str, object]:
    shown = cluster.kubectl("-n", NS, "get", "qbudget", "race", "-o", "json").stdout
    status: dict[str, object] = json.loads(shown)["status"]
    return status


def test_fifty_jobs_against_a_budget_that_fits_twenty_admit_exactly_twenty(
    cluster: DevCluster,
) -> None:
    cluster.kubectl("create", "namespace", NS, check=False)
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(BUDGET))
    kubeconfig = str(cluster.service_account_kubeconfig("qiskit-operator", "qiskit-reconcile"))
    stores = [KubeBudgets(KubeConnection(kubeconfig)) for _ in range(REPLICAS)]
    keepers = [BudgetKeeper(store, lambda: datetime.now(UTC)) for store in stores]
    work = [
        msgspec.structs.replace(
            replies.validated(ref(i)), estimated_cost=Cost(amount=ESTIMATE), budget="race"
        )
        for i in range(JOBS)
    ]

    def admit(index: int) -> bool:
        return keepers[index % REPLICAS].admit(work[index]).admitted

    with ThreadPoolExecutor(JOBS) as pool:
        admitted = list(pool.map(admit, range(JOBS)))

    assert admitted.count(True) == FITS
    assert sum(store.conflicts for store in stores) > 0, "the race never met a 409"
    status = budget_status(cluster)
    assert (status["reserved"], status["remaining"], status["jobs"]) == (0.2, 0.0, FITS)
    held = status["charges"]
    assert isinstance(held, dict)
    assert sorted(held) == sorted(f"{ref(i).uid}/1" for i in range(JOBS) if admitted[i])

    # A restarted reconcile replays every event: nothing is reserved or charged twice.
    with ThreadPoolExecutor(JOBS) as pool:
        again = list(pool.map(admit, range(JOBS)))
    assert again == admitted
    winners = [i for i in range(JOBS) if admitted[i]]
    for _ in range(2):
        for i in winners:
            keepers[i % REPLICAS].settle(ref(i), 0.005)
    status = budget_status(cluster)
    assert (status["spent"], status["reserved"], status["remaining"]) == (0.1, 0.0, 0.1)

    table = cluster.kubectl("-n", NS, "get", "qbudget", "-o", "wide").stdout
    header = table.splitlines()[0].split()
    assert header[:9] == [
        "NAME", "LIMIT", "CURRENCY", "PERIOD", "SPENT", "RESERVED", "REMAINING", "JOBS",
        "COST-CENTER",
    ]  # fmt: skip
    assert table.splitlines()[1].split()[:9] == [
        "race", "0.2", "USD", "month", "0.1", "0", "0.1", "20", "physics",
    ]  # fmt: skip
