"""A job's cost from its QiskitBackend's price and its workload (budgets.pricing)."""

from __future__ import annotations

import pytest

from qiskit_operator.budgets import pricing
from qiskit_operator.events.payloads import Cost, ExecutionRequest, Price
from qiskit_operator.models.backend import QiskitBackend


def backend(name: str, family: str, device: str, **price: float) -> QiskitBackend:
    return QiskitBackend.model_validate(
        {
            "metadata": {"name": name},
            "spec": {"family": family, "device": device, "qubits": 5, "pricing": price},
        }
    )


def request(
    shots: int = 1000, sets: int = 0, limit: float | None = None, **price: float
) -> ExecutionRequest:
    return ExecutionRequest(
        shots=shots,
        optimization_level=1,
        seed=1,
        parameter_values=[[0.1]] * sets,
        max_execution_seconds=limit,
        price=Price(backend="b", **price) if price else None,
    )


def test_the_price_comes_from_the_qiskitbackend_that_offers_the_jobs_device() -> None:
    catalogue = [
        backend("manila", "ibm_runtime", "fake_manila", per_shot=0.001),
        backend("aer", "aer", "aer_simulator", per_second=0.02),
    ]
    price = pricing.price_for(catalogue, "aer", "aer_simulator")
    assert price == Price(backend="aer", per_second=0.02)
    assert pricing.price_for(catalogue, "braket", "braket_local") is None


def test_a_price_per_shot_bills_shots_times_parameter_sets_plus_the_task_fee() -> None:
    cost = pricing.estimate(request(shots=1000, sets=5, per_shot=0.001, per_task=0.3), 1e-4)
    assert cost == Cost(amount=0.3 + 1000 * 5 * 0.001)


def test_a_price_per_second_estimates_with_the_jobs_time_limit_when_it_sets_one() -> None:
    assert pricing.estimate(request(limit=30.0, per_second=0.5), 1e-4) == Cost(amount=15.0)
    assert pricing.estimate(request(shots=10_000, per_second=0.5), 1e-4) == Cost(amount=0.5)


def test_the_actual_cost_bills_the_seconds_the_run_used() -> None:
    assert pricing.actual(request(per_second=2.0), 0.25) == Cost(amount=0.5)


@pytest.mark.parametrize("seconds", [0.0, 12.0])
def test_a_backend_without_a_price_costs_nothing(seconds: float) -> None:
    assert pricing.actual(request(), seconds) == Cost(amount=0.0)
