"""Runs a workload on Braket's local simulator: execute's half of the family,
called through `running.ProviderRunner`."""

from __future__ import annotations

import time
from typing import Any

from qiskit import QuantumCircuit, transpile

from qiskit_operator.caches import CacheCounts
from qiskit_operator.errors import UserError
from qiskit_operator.execution.aer import Outcome, Point, Workload
from qiskit_operator.providers.braket.devices import capabilities
from qiskit_operator.providers.extras import require
from qiskit_operator.providers.outcomes import hex_counts, registers

METHOD = "Braket local state-vector simulator (braket_sv, not seeded)"


class BraketProvider:
    def __init__(self) -> None:
        self._backend: Any = None  # built on first use: importing Braket takes seconds

    def run(self, work: Workload) -> Outcome:
        capabilities(work.device)
        if work.circuit.num_clbits == 0:
            raise UserError(
                "the circuit measures nothing, so the sampler has no counts to "
                "return; add measurements (e.g. qc.measure_all())",
                reason="NoMeasurements",
            )
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
        names, sizes = registers(work.circuit)
        return Outcome(
            points=[Point(parameters=(), counts=hex_counts(counts))],
            method=METHOD,
            seed=work.seed,
            transpiled=True,
            transpiled_depth=int(compiled.depth()),
            transpile_seconds=compiled_at - started,
            execution_seconds=time.perf_counter() - compiled_at,
            registers=names,
            register_sizes=sizes,
        )

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
