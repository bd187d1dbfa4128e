"""Runs a workload on Braket's local simulator: execute's half of the family,
called through `running.ProviderRunner`."""

from __future__ import annotations

import time
from typing import Any

from qiskit import QuantumCircuit, transpile

from qiskit_operator.caches import CacheCounts
from qiskit_operator.errors import UserError
from qiskit_operator.execution.aer import (
    Outcome,
    Point,
    Workload,
    require_measurements,
    timed_outcome,
)
from qiskit_operator.execution.progress import ProgressReport
from qiskit_operator.providers.braket.devices import capabilities
from qiskit_operator.providers.extras import require
from qiskit_operator.providers.outcomes import hex_counts

METHOD = "Braket local state-vector simulator (braket_sv, not seeded)"


class BraketProvider:
    def __init__(self) -> None:
        self._backend: Any = None  # built on first use: importing Braket takes seconds

    def run(self, work: Workload, progress: ProgressReport | None = None) -> Outcome:
        """`progress` is not called: the local simulator runs one circuit, no sweep."""
        capabilities(work.device)
        require_measurements(work.circuit)
        backend = self._local()
        started = time.perf_counter()
        compiled = transpile(
            work.circuit, backend, optimization_level=work.optimization_level, seed_transpiler=7
        )
        compiled_at = time.perf_counter()
        try:
            counts = backend.run(compiled, shots=work.shots).result().get_counts()
        except (ValueError, TypeError, NotImplementedError) as error:
            raise UserError(
                f"Braket's local simulator could not run the circuit: {error}",
                reason="SimulationFailed",
            ) from error
        points = [Point(parameters=(), counts=hex_counts(counts))]
        return timed_outcome(work, compiled, points, METHOD, (started, compiled_at))

    def cache_counts(self) -> list[CacheCounts]:
        return []

    def prepare(self) -> None:
        """Run one shot of a one-qubit circuit: Braket's simulator compiles its kernels
        (numba, cached on disk) on first use, which a confined worker could not."""
        probe = QuantumCircuit(1, 1)
        probe.h(0)
        probe.measure(0, 0)
        self._local().run(probe, shots=1).result()

    def _local(self) -> Any:
        if self._backend is None:
            provider = require("qiskit_braket_provider", "braket", "backend.type aws_braket")
            self._backend = provider.BraketLocalBackend()
        return self._backend
