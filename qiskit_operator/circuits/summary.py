"""What validate measures of a circuit: size, shape, gates and its hash."""

from __future__ import annotations

from qiskit import QuantumCircuit

from qiskit_operator.events.payloads import CircuitSummary

_NOT_GATES = frozenset({"measure", "barrier", "reset", "delay"})


def summarise(circuit: QuantumCircuit, circuit_hash: str) -> CircuitSummary:
    gate_types = {name: int(count) for name, count in circuit.count_ops().items()}
    two_qubit = sum(
        1
        for instruction in circuit.data
        if len(instruction.qubits) == 2 and instruction.operation.name not in _NOT_GATES
    )
    return CircuitSummary(
        hash=circuit_hash,
        qubits=circuit.num_qubits,
        clbits=circuit.num_clbits,
        depth=circuit.depth(),
        size=circuit.size(),
        gate_types=dict(sorted(gate_types.items())),
        two_qubit_gates=two_qubit,
        parameters=[p.name for p in circuit.parameters],
    )
