"""Our fast conversion of Aer's counts gives exactly what Qiskit's get_counts gives."""

from __future__ import annotations

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit_aer import AerSimulator

from qiskit_operator.execution.aer import bitstring_counts


@pytest.mark.parametrize("sizes", [[1], [4], [2, 3, 1], [3, 2]])
def test_counts_match_qiskits_for_any_register_layout(sizes: list[int]) -> None:
    qubits = QuantumRegister(sum(sizes))
    registers = [ClassicalRegister(size, f"r{i}") for i, size in enumerate(sizes)]
    circuit = QuantumCircuit(qubits, *registers)
    circuit.h(qubits)
    circuit.measure(qubits, [bit for register in registers for bit in register])
    result = AerSimulator().run(circuit, shots=800, seed_simulator=5).result()
    assert bitstring_counts(result.results[0].data.counts, sizes) == result.get_counts(0)
