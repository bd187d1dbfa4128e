"""Costs and QiskitBudgets through the whole pipeline `qop run` runs: a priced Aer
backend, a budget that fits two Bell jobs, and a third that is refused."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from qiskit_operator.budgets.stores import MemoryBudgets
from qiskit_operator.catalogue.refreshing import MemoryBackends
from qiskit_operator.local.pipeline import LocalPipeline
from qiskit_operator.models import Phase
from qiskit_operator.models.backend import QiskitBackend
from qiskit_operator.models.budget import QiskitBudget
from qiskit_operator.models.money import Money
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore
from tests.conftest import ROOT, example
from tests.serving import qop

PER_SHOT = 0.00001  # a Bell job of 1024 shots: 0.01024 USD


@pytest.fixture(scope="module")
def budgets() -> MemoryBudgets:
    return MemoryBudgets(
        [
            QiskitBudget.model_validate(
                {"metadata": {"name": "monthly"}, "spec": {"limit": 0.025, "period": "month"}}
            )
        ]
    )


@pytest.fixture(scope="module")
def pipeline(budgets: MemoryBudgets) -> Iterator[LocalPipeline]:
    aer = QiskitBackend.model_validate(
        {
            "metadata": {"name": "aer-simulator"},
            "spec": {
                "family": "aer",
                "device": "aer_simulator",
                "qubits": 32,
                "pricing": {"perShot": PER_SHOT},
            },
        }
    )
    with LocalPipeline(
        Settings.from_env(),
        store=MemoryStatusStore(),
        catalogue=MemoryBackends([aer]),
        budgets=budgets,
    ) as running:
        yield running


def bell(name: str, budget: str | None = None) -> dict[str, Any]:
    manifest = copy.deepcopy(example("bell.yaml"))
    manifest["metadata"]["name"] = name
    if budget is not None:
        manifest["spec"]["budget"] = {"name": budget}
    return manifest


def test_a_job_on_a_priced_backend_carries_its_estimated_and_actual_cost(
    pipeline: LocalPipeline, budgets: MemoryBudgets
) -> None:
    job = pipeline.run(bell("priced"))
    assert job.status is not None and job.status.phase is Phase.COMPLETED, job.status.message
    assert job.status.estimated_cost == Money(amount=round(1024 * PER_SHOT, 6), currency="USD")
    assert job.status.actual_cost == job.status.estimated_cost
    (budget,) = budgets.budgets("default")
    assert budget.status is not None
    assert (budget.status.spent, budget.status.reserved) == (0.01024, 0.0)


def test_a_job_over_what_the_budget_has_left_is_refused_before_it_runs(
    pipeline: LocalPipeline, budgets: MemoryBudgets
) -> None:
    second = pipeline.run(bell("second", "monthly"))
    assert second.status is not None and second.status.phase is Phase.COMPLETED
    third = pipeline.run(bell("third", "monthly"))
    assert third.status is not None and third.status.phase is Phase.FAILED
    assert third.status.results is None
    message = third.status.message or ""
    assert "estimated at 0.01 USD but QiskitBudget default/monthly has 0.00 USD" in message
    assert "kubectl -n default edit qbudget monthly" in message
    (budget,) = budgets.budgets("default")
    assert budget.status is not None
    assert (budget.status.spent, budget.status.reserved, budget.status.jobs) == (0.02048, 0.0, 2)


def test_a_job_naming_a_budget_that_does_not_exist_is_refused_saying_so(
    pipeline: LocalPipeline,
) -> None:
    job = pipeline.run(bell("unbudgeted", "yearly"))
    assert job.status is not None and job.status.phase is Phase.FAILED
    assert "no QiskitBudget yearly in namespace default (budgets there: monthly)" in (
        job.status.message or ""
    )


def test_qop_run_charges_the_example_job_to_the_budget_in_its_own_file() -> None:
    result = qop("run", "examples/budget.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cost:      estimated 0.50 USD, actual " in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_qop_run_refuses_a_job_over_its_budget_saying_what_is_left(tmp_path: Path) -> None:
    documents = list(yaml.safe_load_all((ROOT / "examples" / "budget.yaml").read_text()))
    documents[0]["spec"]["limit"] = 0.2
    job = tmp_path / "over.yaml"
    job.write_text(yaml.safe_dump_all(documents))
    result = qop("run", str(job))
    assert result.returncode == 1
    assert "estimated at 0.50 USD but QiskitBudget default/team-monthly has 0.20 USD" in (
        result.stdout
    )
