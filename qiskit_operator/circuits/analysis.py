"""How a circuit will run on Aer: the method, the memory it needs, a rough time.

Called by validate (to refuse what cannot fit, and to report) and by execute
(to pick the method it runs with), so both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from qiskit import QuantumCircuit

# Instructions the stabilizer method simulates (Clifford gates and the
# non-unitary instructions that keep a state a stabilizer state).
CLIFFORD = frozenset(
    {
        "id",
        "x",
        "y",
        "z",
        "h",
        "s",
        "sdg",
        "sx",
        "sxdg",
        "cx",
        "cy",
        "cz",
        "swap",
        "iswap",
        "ecr",
        "dcx",
        "measure",
        "reset",
        "barrier",
        "delay",
        "pauli",
    }
)
_BYTES_PER_AMPLITUDE = 16  # complex128
_MPS_MAX_BOND = 256


@dataclass(frozen=True, slots=True)
class MethodPlan:
    method: str
    memory_bytes: int
    estimated_seconds: float


def memory_needed(method: str, qubits: int, two_qubit_gates: int = 0) -> int:
    """Bytes the state of `qubits` needs with `method` (an estimate for MPS)."""
    if method in ("statevector", "automatic"):
        return _BYTES_PER_AMPLITUDE * int(2**qubits)
    if method in ("density_matrix", "unitary", "superop"):
        return _BYTES_PER_AMPLITUDE * int(4**qubits)
    if method == "stabilizer":
        return max(1, (2 * qubits * (2 * qubits + 1)) // 8)  # the tableau, in bits
    if method == "extended_stabilizer":
        return max(1, (2 * qubits * (2 * qubits + 1)) // 8) * 64
    bond = min(int(2 ** min(two_qubit_gates, qubits // 2, 62)), _MPS_MAX_BOND)
    return qubits * 2 * bond * bond * _BYTES_PER_AMPLITUDE


def is_clifford(circuit: QuantumCircuit) -> bool:
    return all(instruction.operation.name in CLIFFORD for instruction in circuit.data)


def plan(
    circuit: QuantumCircuit,
    requested: str | None,
    memory_limit: int,
    shots: int,
    two_qubit_gates: int = 0,
    noisy: bool = False,
) -> MethodPlan:
    """The method Aer will use (the requested one, or our automatic choice) and its cost.

    With a noise model and no method asked for, Aer chooses (density matrix when it
    fits, else statevector trajectories); the estimate is that of a statevector.
    """
    qubits = circuit.num_qubits
    if requested and requested != "automatic":
        method = requested
    elif noisy:
        memory = memory_needed("statevector", qubits)
        return MethodPlan(
            "automatic", memory, _estimate_seconds("statevector", circuit, shots, memory)
        )
    elif is_clifford(circuit):
        method = "stabilizer"
    elif memory_needed("statevector", qubits) <= memory_limit:
        method = "statevector"
    else:
        method = "matrix_product_state"
    memory = memory_needed(method, qubits, two_qubit_gates)
    return MethodPlan(method, memory, _estimate_seconds(method, circuit, shots, memory))


def smallest_fitting_method(
    circuit: QuantumCircuit, memory_limit: int, two_qubit_gates: int
) -> str | None:
    """A method that would fit in `memory_limit`, to suggest when the asked one does not."""
    candidates = (["stabilizer"] if is_clifford(circuit) else []) + [
        "statevector",
        "matrix_product_state",
    ]
    for method in candidates:
        if memory_needed(method, circuit.num_qubits, two_qubit_gates) <= memory_limit:
            return method
    return None


def _estimate_seconds(method: str, circuit: QuantumCircuit, shots: int, memory: int) -> float:
    # An order of magnitude, calibrated on this project's benchmark machine:
    # about 1 ms of fixed cost, then work proportional to gates x state size.
    gates = max(1, int(circuit.size()))
    if method in ("stabilizer", "extended_stabilizer"):
        qubits = int(circuit.num_qubits)
        work = gates * qubits * 1e-8 + shots * qubits * 2e-8
    else:
        work = gates * (memory / _BYTES_PER_AMPLITUDE) * 2e-9 + shots * 1e-7
    return round(1e-3 + work, 6)
