"""Runs a validated circuit on Qiskit Aer and returns counts with timings.

Called by the execute handler and by the benchmarks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from qiskit import QuantumCircuit
from qiskit_aer import AerSimulator

from qiskit_operator.errors import UserError
from qiskit_operator.execution.transpiling import TranspileCache


@dataclass(frozen=True, slots=True)
class RunResult:
    counts: dict[str, int]
    method: str
    transpiled: bool
    transpile_seconds: float
    execution_seconds: float


class AerRunner:
    """One simulator per method, reused across jobs, with a transpile cache."""

    def __init__(self, cache: TranspileCache | None = None) -> None:
        self._simulators: dict[str, AerSimulator] = {}
        self.cache = cache or TranspileCache()

    def simulator(self, method: str | None) -> AerSimulator:
        key = method or "automatic"
        simulator = self._simulators.get(key)
        if simulator is None:
            simulator = AerSimulator(method=key)
            self._simulators[key] = simulator
        return simulator

    def run(
        self,
        circuit: QuantumCircuit,
        circuit_hash: str,
        *,
        shots: int,
        optimization_level: int,
        seed: int | None,
        method: str | None,
    ) -> RunResult:
        if circuit.num_clbits == 0:
            raise UserError(
                "the circuit measures nothing, so the sampler has no counts to "
                "return; add measurements (e.g. qc.measure_all())",
                reason="NoMeasurements",
            )
        simulator = self.simulator(method)
        started = time.perf_counter()
        runnable, transpiled = self.cache.prepare(
            circuit, circuit_hash, simulator, optimization_level
        )
        compiled_at = time.perf_counter()
        options = {"shots": shots}
        if seed is not None:
            options["seed_simulator"] = seed
        result = simulator.run(runnable, **options).result()
        finished = time.perf_counter()
        if not result.success:
            raise UserError(
                f"Aer could not run the circuit: {result.status}", reason="SimulationFailed"
            )
        used = result.results[0].metadata.get("method", method or "automatic")
        return RunResult(
            counts={k: int(v) for k, v in result.get_counts(0).items()},
            method=str(used),
            transpiled=transpiled,
            transpile_seconds=compiled_at - started,
            execution_seconds=finished - compiled_at,
        )
