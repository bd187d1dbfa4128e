"""Transpile for Aer only what Aer cannot run as written, and remember the answer.

Transpiling a Bell circuit costs about 60 ms against under 1 ms for running it,
so a circuit made only of instructions Aer supports runs as it is, and anything
else is transpiled once per (circuit hash, method, optimization level).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from qiskit import QuantumCircuit, transpile
from qiskit_aer import AerSimulator


class TranspileCache:
    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, str, int], QuantumCircuit] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def prepare(
        self,
        circuit: QuantumCircuit,
        circuit_hash: str,
        simulator: AerSimulator,
        optimization_level: int,
    ) -> tuple[QuantumCircuit, bool]:
        """The circuit to run and whether it was transpiled."""
        if runs_natively(circuit, simulator):
            return circuit, False
        key = (circuit_hash, str(simulator.options.method), optimization_level)
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return cached, True
        self.misses += 1
        compiled = transpile(circuit, simulator, optimization_level=optimization_level)
        with self._lock:
            self._entries[key] = compiled
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return compiled, True


def runs_natively(circuit: QuantumCircuit, simulator: AerSimulator) -> bool:
    supported = _supported(simulator)
    return all(
        instruction.operation.name in supported or instruction.operation.name == "barrier"
        for instruction in circuit.data
    )


_SUPPORTED: dict[int, frozenset[str]] = {}


def _supported(simulator: AerSimulator) -> frozenset[str]:
    # Building the target's name set is slower than running a small circuit.
    names = _SUPPORTED.get(id(simulator))
    if names is None:
        names = frozenset(simulator.target.operation_names)
        _SUPPORTED[id(simulator)] = names
    return names
