"""QiskitBudgets at `kubectl apply` (the admission webhook runs the pipeline's own
check): a job naming a budget that does not exist is refused there, with the
pipeline's words, and a cancel is never refused, even when the budget is spent."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from qiskit_operator.admission import JobAdmission, Verdict, read_review
from qiskit_operator.budgets.stores import MemoryBudgets
from qiskit_operator.catalogue.refreshing import MemoryBackends
from qiskit_operator.circuits.fetching import UrlPolicy
from qiskit_operator.circuits.sources import CircuitSources
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.configmaps import KubeConfigMapReader
from qiskit_operator.models.backend import QiskitBackend
from qiskit_operator.models.budget import QiskitBudget
from qiskit_operator.sandbox.pool import SandboxPool
from qiskit_operator.settings import LimitSettings
from qiskit_operator.validating import Validator
from tests.conftest import example
from tests.unit.test_admission import review


@pytest.fixture(scope="module")
def admission(sandbox: SandboxPool) -> Iterator[JobAdmission]:
    sources = CircuitSources(
        configmaps=KubeConfigMapReader(KubeConnection()),
        url_policy=UrlPolicy(),
        max_bytes=1 << 20,
    )
    priced = QiskitBackend.model_validate(
        {
            "metadata": {"name": "aer"},
            "spec": {"family": "aer", "device": "aer_simulator", "qubits": 8,
                     "pricing": {"perShot": 0.01}},
        }
    )  # fmt: skip
    spent = QiskitBudget.model_validate(
        {"metadata": {"name": "small"}, "spec": {"limit": 1.0}}
    )  # every 1024-shot job (10.24 USD) is over it
    validator = Validator(
        sandbox,
        sources,
        LimitSettings(max_qubits=8),
        MemoryBackends([priced]),
        MemoryBudgets([spent]),
    )
    decider = JobAdmission(validator)
    yield decider
    decider.close()


def bell(**budget: str) -> dict[str, Any]:
    manifest = copy.deepcopy(example("bell.yaml"))
    manifest["metadata"]["namespace"] = "default"
    manifest["spec"]["budget"] = budget
    return manifest


def decide(admission: JobAdmission, body: dict[str, Any]) -> Verdict:
    return admission.decide(read_review(json.dumps(body).encode()).request, 8.0)


def test_a_job_naming_a_budget_that_does_not_exist_is_refused_at_apply(
    admission: JobAdmission,
) -> None:
    verdict = decide(admission, review("CREATE", bell(name="yearly")))
    assert not verdict.allowed
    assert "no QiskitBudget yearly in namespace default (budgets there: small)" in (
        verdict.message or ""
    )


def test_a_job_over_its_budget_is_refused_at_apply_saying_what_is_left(
    admission: JobAdmission,
) -> None:
    verdict = decide(admission, review("CREATE", bell(name="small")))
    assert not verdict.allowed
    assert "estimated at 10.24 USD but QiskitBudget default/small has 1.00 USD" in (
        verdict.message or ""
    )


def test_setting_spec_cancel_is_allowed_even_when_the_budget_is_spent(
    admission: JobAdmission,
) -> None:
    old = bell(name="small")
    cancelled = copy.deepcopy(old)
    cancelled["spec"]["cancel"] = True
    assert decide(admission, review("UPDATE", cancelled, old)) == Verdict(allowed=True)
