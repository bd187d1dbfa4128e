"""spec.cancel in reconcile: the job ends Cancelled (or keeps what it finished), its
budget reservation goes back, execute is told to stop it, and late answers of the run
it cancelled change nothing."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from qiskit_operator.budgets.admitting import BudgetKeeper
from qiskit_operator.budgets.stores import MemoryBudgets
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.models import Phase
from qiskit_operator.models.budget import QiskitBudget
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from tests import replies
from tests.conftest import job_manifest
from tests.fake_apiserver import FakeAPIServer, FakeCluster

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def rig(tmp_path: Path) -> tuple[FakeCluster, Reconciler, MemoryBudgets, dict[str, Any]]:
    cluster = FakeCluster(FakeAPIServer(clock=lambda: NOW))
    budgets = MemoryBudgets(
        [QiskitBudget.model_validate({"metadata": {"name": "b"}, "spec": {"limit": 1.0}})]
    )
    reconcile = Reconciler(
        cluster,
        ResultStore(tmp_path),
        clock=lambda: NOW,
        budgets=BudgetKeeper(budgets, lambda: NOW),
    )
    manifest = job_manifest()
    obj = cluster.add(manifest)
    reconcile.handle(resource_event(obj, types.APISERVER_ADD))
    return cluster, reconcile, budgets, manifest


def admitted(reconcile: Reconciler, ref: payloads.JobRef) -> None:
    work = msgspec.structs.replace(
        replies.validated(ref), estimated_cost=payloads.Cost(amount=0.4), budget="b"
    )
    budgeted = Envelope(type=types.JOB_BUDGETED, source="/test", data=payloads.encode(work))
    answer = reconcile.handle(budgeted)
    assert answer is not None and answer.type == types.JOB_VALIDATED
    assert reconcile.handle(answer) is None  # reconcile hears its own answer: Scheduled


def cancelled(manifest: dict[str, Any], cluster: FakeCluster) -> dict[str, Any]:
    changed = copy.deepcopy(manifest)
    changed["spec"]["cancel"] = True
    return cluster.add(changed)


def test_a_cancelled_job_ends_cancelled_and_its_reservation_goes_back(tmp_path: Path) -> None:
    cluster, reconcile, budgets, manifest = rig(tmp_path)
    ref = replies.ref_of(cluster.add(manifest))
    admitted(reconcile, ref)
    (budget,) = budgets.budgets("default")
    assert budget.status is not None and budget.status.reserved == 0.4
    obj = cancelled(manifest, cluster)
    answer = reconcile.handle(resource_event(obj, types.APISERVER_UPDATE))
    assert answer is not None and answer.type == types.EXECUTION_CANCEL
    assert payloads.decode_cancel(answer.data).job == replies.ref_of(obj)
    job = cluster.get("default/bell")
    assert job is not None and job.status is not None
    assert job.status.phase is Phase.CANCELLED
    assert "Cancelled in Scheduled: spec.cancel is true" in (job.status.message or "")
    (budget,) = budgets.budgets("default")
    assert budget.status is not None and (budget.status.reserved, budget.status.spent) == (0, 0)
    # The run it cancelled answers late: nothing changes, nothing is charged.
    assert reconcile.handle(replies.envelope(replies.completed(ref))) is None
    job = cluster.get("default/bell")
    assert job is not None and job.status is not None and job.status.phase is Phase.CANCELLED
    # Its own status write comes back as an update: noted already, nothing more.
    assert reconcile.handle(resource_event(cluster.add(obj), types.APISERVER_UPDATE)) is None


def test_cancelling_a_finished_job_keeps_its_results(tmp_path: Path) -> None:
    cluster, reconcile, _, manifest = rig(tmp_path)
    ref = replies.ref_of(cluster.add(manifest))
    reconcile.handle(replies.envelope(replies.validated(ref)))
    reconcile.handle(replies.envelope(replies.completed(ref, {"00": 4})))
    reconcile.handle(resource_event(cancelled(manifest, cluster), types.APISERVER_UPDATE))
    job = cluster.get("default/bell")
    assert job is not None and job.status is not None
    assert job.status.phase is Phase.COMPLETED
    assert job.status.results is not None and job.status.results.counts == {"00": 4}
    assert job.status.observed_generation == 2
