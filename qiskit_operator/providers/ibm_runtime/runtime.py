"""Runs a workload on an IBM device's snapshot with Qiskit Runtime's local testing
mode: execute's half of the family, called through `running.ProviderRunner`. A job
of a QiskitSession runs inside that session's Runtime Session or Batch (`sessions`)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.providers import BackendV2
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_operator.caches import BoundedCache, CacheCounts
from qiskit_operator.errors import UserError
from qiskit_operator.execution.aer import (
    Outcome,
    Point,
    Workload,
    estimated_points,
    require_measurements,
    timed_outcome,
)
from qiskit_operator.execution.observables import parse_observable
from qiskit_operator.execution.progress import ProgressReport
from qiskit_operator.providers.ibm_runtime.devices import LOCAL_MODE, fake_device
from qiskit_operator.providers.ibm_runtime.sessions import runtime_mode
from qiskit_operator.providers.outcomes import hex_counts

_TRANSPILED: BoundedCache[tuple[str, str, int, bool], QuantumCircuit] = BoundedCache(
    "device_transpiled", max_entries=64
)


class IBMRuntimeProvider:
    def run(self, work: Workload, progress: ProgressReport | None = None) -> Outcome:
        """`progress` is not called: local testing mode runs a sweep in one call."""
        device = fake_device(work.device, "ibm_simulator")
        try:
            return self._run(device, work)
        except (ValueError, TypeError) as error:  # the primitives' refusals of a workload
            raise UserError(
                f"Qiskit Runtime could not run the job on {work.device}: {error}",
                reason="SimulationFailed",
            ) from error

    def cache_counts(self) -> list[CacheCounts]:
        return [_TRANSPILED.counts()]

    def prepare(self) -> None:
        """Nothing to do before the worker confines itself."""

    def _run(self, device: BackendV2, work: Workload) -> Outcome:
        estimating = work.primitive == "estimator"
        circuit = work.circuit
        if estimating:
            circuit = circuit.remove_final_measurements(inplace=False)
        started = time.perf_counter()
        key = (work.circuit_hash, str(work.device), work.optimization_level, estimating)
        isa = _TRANSPILED.get(key, lambda: _transpile(circuit, device, work.optimization_level))
        compiled_at = time.perf_counter()
        if estimating:
            points = self._estimate(isa, device, work)
        else:
            points = self._sample(isa, device, work)
        return timed_outcome(work, isa, points, LOCAL_MODE, (started, compiled_at))

    def _sample(self, isa: QuantumCircuit, device: BackendV2, work: Workload) -> list[Point]:
        require_measurements(isa)
        from qiskit_ibm_runtime.executor_sampler import Sampler

        sampler = Sampler(mode=runtime_mode(device, work.session, work.session_mode))
        sampler.options.simulator.seed_simulator = work.seed
        bindings = work.parameter_values or ((),)
        pub: tuple[Any, ...] = (isa, np.array(work.parameter_values)) if isa.parameters else (isa,)
        data = sampler.run([pub], shots=work.shots).result()[0].join_data()
        if isa.parameters:
            return [
                Point(parameters=tuple(row), counts=hex_counts(data.get_counts(loc=i)))
                for i, row in enumerate(bindings)
            ]
        return [Point(parameters=(), counts=hex_counts(data.get_counts()))]

    def _estimate(self, isa: QuantumCircuit, device: BackendV2, work: Workload) -> list[Point]:
        from qiskit_ibm_runtime.executor_estimator import Estimator

        logical = work.circuit.num_qubits
        operators = [
            parse_observable(text, logical).apply_layout(isa.layout) for text in work.observables
        ]
        estimator = Estimator(mode=runtime_mode(device, work.session, work.session_mode))
        estimator.options.simulator.seed_simulator = work.seed
        pub: tuple[Any, ...]
        if isa.parameters:
            values = np.array(work.parameter_values, dtype=float).reshape(
                len(work.parameter_values), 1, isa.num_parameters
            )
            pub = (isa, [operators], values)
        else:
            pub = (isa, operators)
        data = estimator.run([pub], precision=work.precision).result()[0].data
        evs = np.atleast_2d(np.asarray(data.evs, dtype=float))
        stds = np.atleast_2d(np.asarray(data.stds, dtype=float))
        return estimated_points(work.parameter_values, evs, stds)


def _transpile(circuit: QuantumCircuit, device: BackendV2, level: int) -> QuantumCircuit:
    # A fixed transpiler seed: the same job maps onto the same physical qubits every run.
    manager = generate_preset_pass_manager(
        backend=device, optimization_level=level, seed_transpiler=7
    )
    isa: QuantumCircuit = manager.run(circuit)
    return isa
