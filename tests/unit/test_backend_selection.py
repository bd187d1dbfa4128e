"""Backend selection's scoring and choice among the catalogue (catalogue/selection.py)."""

from __future__ import annotations

from typing import Any

import pytest

from qiskit_operator.catalogue.selection import Need, score, select
from qiskit_operator.errors import UserError
from qiskit_operator.models.backend import QiskitBackend
from qiskit_operator.models.spec import BackendSelectionSpec, BackendWeights

BELL = Need(qubits=2, two_qubit_gates=1, primitive="sampler", shots=1000)


def backend(name: str, **spec: Any) -> QiskitBackend:
    fields: dict[str, Any] = {"family": "aer", "device": name, "qubits": 5}
    fields.update(spec)
    return QiskitBackend.model_validate({"metadata": {"name": name}, "spec": fields})


def with_queue(item: QiskitBackend, jobs: int) -> QiskitBackend:
    return QiskitBackend.model_validate(
        {**item.model_dump(by_alias=True), "status": {"state": "Available", "queueLength": jobs}}
    )


def test_a_free_idle_ideal_simulator_scores_one() -> None:
    assert score(backend("aer"), BELL, None).total == pytest.approx(1.0)


def test_cost_counts_the_price_of_every_shot_and_the_task_fee() -> None:
    priced = backend("paid", pricing={"perShot": 0.001, "perTask": 1.0})
    assert score(priced, BELL, None).cost == pytest.approx(1 / (1 + 0.001 * 1000 + 1.0))


def test_capability_is_the_chance_the_circuit_runs_without_an_error() -> None:
    noisy = backend("noisy", errorRates={"twoQubitGate": 0.01, "readout": 0.02})
    assert score(noisy, BELL, None).capability == pytest.approx(0.99 * 0.98**2)


def test_a_longer_queue_scores_lower() -> None:
    idle, busy = with_queue(backend("idle"), 0), with_queue(backend("busy"), 9)
    assert score(busy, BELL, None).queue_time == pytest.approx(0.1)
    assert score(idle, BELL, None).total > score(busy, BELL, None).total


def test_weights_decide_between_a_cheap_noisy_and_a_dear_clean_backend() -> None:
    cheap = backend("cheap", errorRates={"twoQubitGate": 0.2, "readout": 0.1})
    dear = backend("dear", pricing={"perShot": 0.01})
    catalogue = [cheap, dear]
    by_cost = BackendSelectionSpec(weights=BackendWeights(cost=1, capability=0))
    by_capability = BackendSelectionSpec(weights=BackendWeights(cost=0, capability=1))
    assert select(catalogue, by_cost, BELL).backend == "cheap"
    assert select(catalogue, by_capability, BELL).backend == "dear"


def test_the_first_preferred_available_backend_wins_over_a_better_score() -> None:
    catalogue = [backend("best"), backend("mine", pricing={"perShot": 1.0})]
    choice = select(catalogue, BackendSelectionSpec(preferred_backends=["mine"]), BELL)
    assert (choice.backend, choice.reason, choice.fallback_used) == ("mine", "Preferred", False)


def test_an_unavailable_preferred_backend_falls_back_recording_the_original() -> None:
    catalogue = [backend("device", availability="Unavailable"), backend("spare")]
    choice = select(catalogue, BackendSelectionSpec(preferred_backends=["device"]), BELL)
    assert (choice.backend, choice.reason) == ("spare", "Fallback")
    assert (choice.original, choice.fallback_used) == ("device", True)
    assert "device is Unavailable" in choice.message


def test_no_fallback_allowed_refuses_saying_why_the_preferred_cannot_run() -> None:
    catalogue = [backend("device", availability="Maintenance"), backend("spare")]
    wanted = BackendSelectionSpec(preferred_backends=["device"], allow_fallback=False)
    with pytest.raises(UserError, match="device is Maintenance") as refused:
        select(catalogue, wanted, BELL)
    assert refused.value.reason == "NoBackendAvailable"


def test_excluded_and_too_small_backends_are_never_chosen() -> None:
    dear = backend("ok", pricing={"perShot": 5})
    catalogue = [backend("tiny", qubits=1), backend("banned"), dear]
    choice = select(catalogue, BackendSelectionSpec(excluded_backends=["banned"]), BELL)
    assert choice.backend == "ok"


def test_with_no_candidate_the_simulator_fallback_runs_the_job_on_aer() -> None:
    wanted = BackendSelectionSpec(preferred_backends=["gone"], fallback_to_simulator=True)
    choice = select([backend("tiny", qubits=1)], wanted, BELL)
    assert (choice.family, choice.device, choice.backend) == ("aer", "aer_simulator", None)
    assert (choice.original, choice.fallback_used) == ("gone", True)


def test_with_no_candidate_and_no_simulator_fallback_the_job_is_refused_naming_each_misfit() -> (
    None
):
    with pytest.raises(UserError, match="tiny has 1 qubits, the circuit 2"):
        select([backend("tiny", qubits=1)], BackendSelectionSpec(), BELL)


def test_a_backend_is_found_by_its_object_name_or_its_device() -> None:
    catalogue = [backend("ibm-fake-manila", family="ibm_runtime", device="fake_manila")]
    choice = select(catalogue, BackendSelectionSpec(preferred_backends=["fake_manila"]), BELL)
    assert choice.backend == "ibm-fake-manila" and choice.device == "fake_manila"


def test_a_fallback_names_the_declared_state_even_before_the_next_refresh() -> None:
    marked = with_queue(backend("device"), 0)  # refreshed while Available
    marked.spec.availability = "Unavailable"  # then marked, before the next ping
    wanted = BackendSelectionSpec(preferred_backends=["device"])
    choice = select([marked, backend("spare")], wanted, BELL)
    assert "device is Unavailable" in choice.message
