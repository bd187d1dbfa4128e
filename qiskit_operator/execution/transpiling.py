"""Transpile for Aer only what Aer cannot run as written, and remember the answer.

Transpiling a Bell circuit costs about 60 ms against under 1 ms for running it,
so a circuit made only of instructions Aer supports runs as it is, and anything
else is transpiled once per (circuit hash, method, optimization level). Called
by `AerRunner`; the transpiled circuits are kept in a bounded cache, by count
and by their instructions in total (a deep circuit holds hundreds of MiB).
"""

from __future__ import annotations

from qiskit import QuantumCircuit, transpile
from qiskit_aer import AerSimulator

from qiskit_operator.caches import FUNCTION, BoundedCache

MAX_CIRCUITS = 256
MAX_INSTRUCTIONS = 500_000
"""Instructions of all kept circuits together; a circuit with more is not kept."""


class TranspileCache:
    def __init__(self, capacity: int = MAX_CIRCUITS, *, process: str = FUNCTION) -> None:
        self._circuits: BoundedCache[tuple[str, str, int], QuantumCircuit] = BoundedCache(
            "transpiled",
            max_entries=capacity,
            max_weight=MAX_INSTRUCTIONS,
            weigh=lambda circuit: len(circuit.data),
            process=process,
        )

    def prepare(
        self,
        circuit: QuantumCircuit,
        circuit_hash: str,
        simulator: AerSimulator,
        optimization_level: int,
        supported: frozenset[str],
    ) -> tuple[QuantumCircuit, bool]:
        """The circuit to run and whether it was transpiled; `supported` is the names of
        the simulator's instructions (computing them takes longer than a small run)."""
        if runs_natively(circuit, supported):
            return circuit, False
        key = (circuit_hash, str(simulator.options.method), optimization_level)
        compiled = self._circuits.get(
            key, lambda: transpile(circuit, simulator, optimization_level=optimization_level)
        )
        return compiled, True

    @property
    def circuits(self) -> BoundedCache[tuple[str, str, int], QuantumCircuit]:
        return self._circuits


def runs_natively(circuit: QuantumCircuit, supported: frozenset[str]) -> bool:
    return all(
        instruction.operation.name in supported or instruction.operation.name == "barrier"
        for instruction in circuit.data
    )
