"""The same pubs through Qiskit's StatevectorSampler / StatevectorEstimator and through
ours, and what must agree: shapes, register names, metadata keys, and values within
statistical bounds. Used by the local (tests/integration) and cluster (tests/e2e)
proofs of the client."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter
from qiskit.primitives import StatevectorEstimator, StatevectorSampler
from qiskit.quantum_info import SparsePauliOp

SEED = 11


def bell_measure_all() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


def bell_two_two() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def two_registers() -> QuantumCircuit:
    """GHZ on 3 qubits read into two registers: alpha (1 bit) and beta (2 bits)."""
    q = QuantumRegister(3, "q")
    alpha, beta = ClassicalRegister(1, "alpha"), ClassicalRegister(2, "beta")
    qc = QuantumCircuit(q, alpha, beta)
    qc.h(0)
    qc.cx(0, 1)
    qc.cx(1, 2)
    qc.x(2)
    qc.measure(0, alpha[0])
    qc.measure([1, 2], [beta[0], beta[1]])
    return qc


def ry_sweep() -> QuantumCircuit:
    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.ry(theta, 0)
    qc.measure_all()
    return qc


def entangler() -> QuantumCircuit:
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(2)
    qc.ry(a, 0)
    qc.rx(b, 1)
    qc.cx(0, 1)
    return qc


def sampler_pubs() -> list[Any]:
    angles = np.linspace(0, np.pi, 6).reshape(2, 3, 1)  # a (2, 3) grid of bindings
    return [
        (bell_measure_all(), None, 400),  # per-pub shots
        bell_two_two(),  # the run's shots
        two_registers(),
        (ry_sweep(), angles, 300),
    ]


def estimator_pubs() -> list[Any]:
    observables = [
        ["ZZ"],
        ["XX"],
        [SparsePauliOp.from_list([("ZI", 0.5), ("IZ", -1.0)])],
    ]  # shape (3, 1)
    values = np.stack(np.meshgrid(np.linspace(0, np.pi, 4), [0.3]), axis=-1).reshape(1, 4, 2)
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    return [
        (entangler(), observables, values),  # broadcasts (3, 1) against (1, 4): (3, 4)
        (bell, ["ZZ", "XX", "YY", "ZI"]),
        (entangler(), "XY", [0.4, 1.1], 0.01),  # a precision of its own
    ]


def qiskit_sampled(pubs: list[Any], shots: int) -> Any:
    return StatevectorSampler(seed=SEED).run(pubs, shots=shots).result()


def qiskit_estimated(pubs: list[Any]) -> Any:
    return StatevectorEstimator(seed=SEED).run(pubs).result()


def assert_sampler_agrees(ours: Any, theirs: Any) -> None:
    assert len(ours) == len(theirs)
    assert ours.metadata == theirs.metadata
    for index, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        assert type(mine) is type(reference)
        assert mine.metadata.keys() == reference.metadata.keys()
        assert mine.metadata == reference.metadata, index
        assert list(mine.data) == list(reference.data), index  # register names, in order
        assert mine.data.shape == reference.data.shape, index
        for name in reference.data:
            a, b = mine.data[name], reference.data[name]
            assert (a.shape, a.num_bits, a.num_shots) == (b.shape, b.num_bits, b.num_shots)
            for element in np.ndindex(a.shape):
                assert_counts_agree(a[element].get_counts(), b[element].get_counts())
        joined = mine.join_data()
        assert_counts_agree(joined.get_counts(), reference.join_data().get_counts())


def assert_counts_agree(ours: dict[str, int], theirs: dict[str, int]) -> None:
    """Two samples of one distribution: each outcome's frequencies within five standard
    deviations of their difference (with both seeded, the same every run)."""
    n, m = sum(ours.values()), sum(theirs.values())
    assert n == m
    for outcome in set(ours) | set(theirs):
        p, q = ours.get(outcome, 0) / n, theirs.get(outcome, 0) / m
        pooled = (p + q) / 2
        bound = 5 * math.sqrt(max(pooled * (1 - pooled), 1 / n) * 2 / n)
        assert abs(p - q) <= bound, (outcome, ours, theirs)


def assert_estimator_agrees(ours: Any, theirs: Any, pubs: list[Any]) -> None:
    assert len(ours) == len(theirs)
    assert ours.metadata == theirs.metadata
    for index, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        assert mine.metadata.keys() == reference.metadata.keys()
        assert mine.metadata == reference.metadata
        assert list(mine.data) == list(reference.data) == ["evs", "stds"]
        assert mine.data.shape == reference.data.shape
        assert mine.data.evs.shape == reference.data.evs.shape
        precision = mine.metadata["target_precision"]
        # Exact where no precision is asked; else both are within a few of it.
        tolerance = 1e-9 if precision == 0 else 6 * precision
        assert np.allclose(mine.data.evs, reference.data.evs, atol=tolerance), index
        assert np.allclose(mine.data.stds, reference.data.stds, atol=1e-9 + precision)
