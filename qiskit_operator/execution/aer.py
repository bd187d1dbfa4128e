"""Runs a validated circuit on Qiskit Aer: sampler counts or estimator expectation
values, for one binding or a whole parameter sweep in a single Aer call.

Called by the execute handler (directly, or inside the time-limited worker)
and by the benchmarks. The sampler runs through `AerSimulator.run`, which takes
every binding of a sweep in one call and returns counts without building
per-shot arrays; the estimator uses qiskit-aer's EstimatorV2. Asked to report
progress, a sweep runs in chunks of parameter sets instead (`progress.Chunks`),
with the very results of one call: each chunk starts from the seed Aer would
have given its first set.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from qiskit import QuantumCircuit
from qiskit.exceptions import QiskitError
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel
from qiskit_aer.primitives import EstimatorV2

from qiskit_operator.caches import FUNCTION, BoundedCache, CacheCounts
from qiskit_operator.errors import UserError
from qiskit_operator.execution.noise import build_noise_model
from qiskit_operator.execution.observables import parse_observable
from qiskit_operator.execution.progress import Chunks, ProgressReport
from qiskit_operator.execution.transpiling import TranspileCache

MAX_NOISE_MODELS = 2
"""Noise models kept; simulators with one are kept within the same count, so at most
twice this many are alive (at QOP_MAX_NOISE_MODEL_QUBITS=32, about 130 MiB each)."""
MAX_SIMULATORS = 16


@dataclass(frozen=True, slots=True)
class Workload:
    circuit: QuantumCircuit
    circuit_hash: str
    shots: int
    seed: int
    method: str = "automatic"
    optimization_level: int = 1
    primitive: Literal["sampler", "estimator"] = "sampler"
    observables: tuple[str, ...] = ()
    parameter_values: tuple[tuple[float, ...], ...] = ()
    precision: float | None = None
    noise_model: str | None = None
    family: str = "aer"
    """The backend family that runs it (`providers`); the rest of this module is Aer's."""
    device: str | None = None
    """The family's device, e.g. fake_manila; None for Aer."""
    session: str | None = None
    """The job's QiskitSession, namespace/name: IBM Runtime runs it in that session."""
    session_mode: str | None = None
    """dedicated (a Runtime Session) or batch (a Runtime Batch)."""


@dataclass(frozen=True, slots=True)
class Point:
    """The result for one binding of the circuit's parameters."""

    parameters: tuple[float, ...]
    counts: dict[str, int] | None = None  # Aer's: hexadecimal keys (see bitstring_counts)
    expectation_values: list[float] | None = None
    standard_errors: list[float] | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    points: list[Point]
    method: str
    seed: int
    transpiled: bool
    transpiled_depth: int
    transpile_seconds: float
    execution_seconds: float
    registers: list[str] = field(default_factory=list)
    register_sizes: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Simulator:
    aer: AerSimulator
    supported: frozenset[str]
    """The names of the instructions it runs without transpiling."""
    noisy: bool


class AerRunner:
    """Simulators per (method, noise model), noise models and transpiled circuits, each
    in a bounded cache and reused across jobs. `process` labels their metrics."""

    def __init__(
        self,
        cache: TranspileCache | None = None,
        *,
        max_noise_model_qubits: int = 32,
        process: str = FUNCTION,
    ) -> None:
        self._max_noise_qubits = max_noise_model_qubits
        self._noise_models: BoundedCache[str, NoiseModel] = BoundedCache(
            "noise_models", max_entries=MAX_NOISE_MODELS, process=process
        )
        self._simulators: BoundedCache[tuple[str, str | None], Simulator] = BoundedCache(
            "simulators",
            max_entries=MAX_SIMULATORS,
            max_weight=MAX_NOISE_MODELS,
            weigh=lambda simulator: int(simulator.noisy),
            process=process,
        )
        self.cache = cache or TranspileCache(process=process)

    def noise_model(self, name: str) -> NoiseModel:
        return self._noise_models.get(name, lambda: build_noise_model(name, self._max_noise_qubits))

    def simulator(self, method: str, noise: str | None = None) -> Simulator:
        return self._simulators.get((method, noise), lambda: self._simulator(method, noise))

    def _simulator(self, method: str, noise: str | None) -> Simulator:
        options: dict[str, Any] = {"method": method}
        if noise is not None:
            options["noise_model"] = self.noise_model(noise)
        aer = AerSimulator(**options)
        return Simulator(aer, frozenset(aer.target.operation_names), noisy=noise is not None)

    def cache_counts(self) -> list[CacheCounts]:
        """What the caches have done, for a process that cannot serve metrics."""
        return [
            self._noise_models.counts(),
            self._simulators.counts(),
            self.cache.circuits.counts(),
        ]

    def run(self, work: Workload, progress: ProgressReport | None = None) -> Outcome:
        """Run `work`; UserError for what the circuit or its inputs got wrong. With
        `progress`, a sweep reports its parameter sets done as it goes."""
        try:
            return self._run(work, progress)
        except QiskitError as error:  # Aer's and Qiskit's own refusals (AerError included)
            raise UserError(f"the simulation failed: {error}", reason="SimulationFailed") from error

    def _run(self, work: Workload, progress: ProgressReport | None) -> Outcome:
        circuit = work.circuit
        if work.primitive == "estimator":
            circuit = circuit.remove_final_measurements(inplace=False)
        _check_bindings(circuit, work.parameter_values)
        simulator = self.simulator(work.method, work.noise_model)
        started = time.perf_counter()
        runnable, transpiled = self.cache.prepare(
            circuit, work.circuit_hash, simulator.aer, work.optimization_level, simulator.supported
        )
        compiled_at = time.perf_counter()
        if work.primitive == "estimator":
            points, method = self._estimate(runnable, work, progress)
        else:
            points, method = self._sample(runnable, simulator.aer, work, progress)
        return timed_outcome(
            work, runnable, points, method, (started, compiled_at), transpiled=transpiled
        )

    def _sample(
        self,
        circuit: QuantumCircuit,
        simulator: AerSimulator,
        work: Workload,
        progress: ProgressReport | None,
    ) -> tuple[list[Point], str]:
        require_measurements(circuit)
        bindings = work.parameter_values or ((),)
        if progress is not None and len(work.parameter_values) >= 2:
            results = _sweep_in_chunks(simulator, circuit, work, progress)
        else:
            results = _aer_call(simulator, circuit, work.shots, work.seed, work.parameter_values)
        # Counts stay as Aer gives them (hexadecimal keys) until someone needs them as
        # bitstrings: a summary converts only its top outcomes (see `top_counts`).
        points = [
            Point(parameters=tuple(values), counts=dict(results[index].data.counts))
            for index, values in enumerate(bindings)
        ]
        return points, str(results[0].metadata.get("method", work.method))

    def _estimate(
        self, circuit: QuantumCircuit, work: Workload, progress: ProgressReport | None
    ) -> tuple[list[Point], str]:
        if not work.observables:
            raise UserError(
                "execution.primitive is estimator, so execution.observables is "
                "required (e.g. [ZZ, XX])",
                reason="InvalidSpec",
            )
        operators = [parse_observable(text, circuit.num_qubits) for text in work.observables]
        backend_options: dict[str, Any] = {"method": work.method}
        if work.noise_model is not None:
            backend_options["noise_model"] = self.noise_model(work.noise_model)
        estimator = EstimatorV2(
            options={
                "backend_options": backend_options,
                "run_options": {"seed_simulator": work.seed},
                "default_precision": work.precision or 0.0,
            }
        )
        rows = work.parameter_values
        if not circuit.parameters:
            evs, stds = _estimated(estimator, (circuit, operators))
            return estimated_points(rows, evs, stds), work.method
        # Exact values (no precision asked) are the same in chunks; sampled ones are not.
        if progress is None or work.precision or len(rows) < 2:
            evs, stds = _estimated(estimator, _sweep_pub(circuit, operators, rows))
            return estimated_points(rows, evs, stds), work.method
        chunks = Chunks(len(rows))
        parts: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
        while size := chunks.next_size():
            started = time.perf_counter()
            chunk = rows[chunks.done : chunks.done + size]
            parts.append(_estimated(estimator, _sweep_pub(circuit, operators, chunk)))
            chunks.ran(size, time.perf_counter() - started)
            progress(chunks.done, chunks.total)
        evs = np.concatenate([part[0] for part in parts])
        stds = np.concatenate([part[1] for part in parts])
        return estimated_points(rows, evs, stds), work.method


def timed_outcome(
    work: Workload,
    runnable: QuantumCircuit,
    points: list[Point],
    method: str,
    timing: tuple[float, float],
    *,
    transpiled: bool = True,
) -> Outcome:
    """The outcome of `work` run as `runnable`, timed (perf_counter) from `timing`'s start
    to its second moment to transpile and from then to now to run. Its registers are
    those of the circuit the job gave (an estimator's without final measurements), as
    the results name them. Every family builds its outcome here."""
    started, compiled_at = timing
    circuit = work.circuit
    if work.primitive == "estimator":
        circuit = circuit.remove_final_measurements(inplace=False)
    return Outcome(
        points=points,
        method=method,
        seed=work.seed,
        transpiled=transpiled,
        transpiled_depth=int(runnable.depth()),
        transpile_seconds=compiled_at - started,
        execution_seconds=time.perf_counter() - compiled_at,
        registers=[register.name for register in circuit.cregs],
        register_sizes=[register.size for register in circuit.cregs],
    )


def _sweep_pub(
    circuit: QuantumCircuit, operators: list[Any], rows: tuple[tuple[float, ...], ...]
) -> tuple[Any, ...]:
    # Bindings along the first axis, observables along the second: (n, k) values.
    values = np.array(rows, dtype=float).reshape(len(rows), 1, circuit.num_parameters)
    return (circuit, [operators], values)


def _estimated(
    estimator: EstimatorV2, pub: tuple[Any, ...]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Expectation values and their standard errors of one pub, one row a binding."""
    try:
        data = estimator.run([pub]).result()[0].data
    except (ValueError, TypeError) as error:
        raise UserError(
            f"the estimator could not run: {error}", reason="SimulationFailed"
        ) from error
    evs = np.atleast_2d(np.asarray(data.evs, dtype=float))
    return evs, np.atleast_2d(np.asarray(data.stds, dtype=float))


def estimated_points(
    rows: tuple[tuple[float, ...], ...], evs: np.ndarray[Any, Any], stds: np.ndarray[Any, Any]
) -> list[Point]:
    """One point per binding (one for a circuit without parameters) from an estimator's
    values: a row each, an observable a column. The families' estimators share it."""
    return [
        Point(
            parameters=tuple(row),
            expectation_values=[float(x) for x in evs[i]],
            standard_errors=[float(x) for x in stds[i]],
        )
        for i, row in enumerate(rows or ((),))
    ]


def require_measurements(circuit: QuantumCircuit) -> None:
    """The sampler's first question of every family: is there anything to count?"""
    if circuit.num_clbits == 0:
        raise UserError(
            "the circuit measures nothing, so the sampler has no counts to "
            "return; add measurements (e.g. qc.measure_all())",
            reason="NoMeasurements",
        )


def _aer_call(
    simulator: AerSimulator,
    circuit: QuantumCircuit,
    shots: int,
    seed: int,
    rows: tuple[tuple[float, ...], ...],
) -> list[Any]:
    """Aer's experiment results, one per row of parameter values (one without any)."""
    options: dict[str, Any] = {"shots": shots, "seed_simulator": seed}
    if circuit.parameters:
        options["parameter_binds"] = [_binds(circuit, rows)]
    result = simulator.run(circuit, **options).result()
    if not result.success:
        raise UserError(
            f"Aer could not run the circuit: {result.status}", reason="SimulationFailed"
        )
    return list(result.results)


def _sweep_in_chunks(
    simulator: AerSimulator, circuit: QuantumCircuit, work: Workload, progress: ProgressReport
) -> list[Any]:
    """The sweep's results as one Aer call gives them, run a chunk at a time. Aer seeds
    the sets of one call `seed`, `seed + stride`, ... (a stride of its own choosing,
    read off the first chunk), so each chunk starts at the seed its first set had."""
    rows = work.parameter_values
    chunks = Chunks(len(rows))
    results: list[Any] = []
    seed, stride = work.seed, 0
    while size := chunks.next_size():
        started = time.perf_counter()
        part = _aer_call(
            simulator, circuit, work.shots, seed, rows[chunks.done : chunks.done + size]
        )
        chunks.ran(size, time.perf_counter() - started)
        seeds = [int(r.seed_simulator) for r in part]
        stride = stride or (seeds[1] - seeds[0] if len(seeds) > 1 else 0)
        seed = seeds[-1] + stride
        results.extend(part)
        progress(chunks.done, chunks.total)
    return results


def _check_bindings(circuit: QuantumCircuit, values: tuple[tuple[float, ...], ...]) -> None:
    names = [p.name for p in circuit.parameters]
    if names and not values:
        raise UserError(
            f"the circuit has parameters ({', '.join(names)}); give their values "
            "in execution.parameterValues, one row per binding",
            reason="UnboundParameters",
        )
    if values and not names:
        raise UserError(
            "execution.parameterValues is given but the circuit has no parameters",
            reason="InvalidSpec",
        )
    for index, row in enumerate(values):
        if len(row) != len(names):
            raise UserError(
                f"execution.parameterValues row {index} has {len(row)} values but the circuit "
                f"has {len(names)} parameters ({', '.join(names)}), in that order",
                reason="InvalidSpec",
            )


def _binds(
    circuit: QuantumCircuit, values: tuple[tuple[float, ...], ...]
) -> dict[Any, list[float]]:
    return {param: [row[i] for row in values] for i, param in enumerate(circuit.parameters)}


def bitstring_counts(raw: dict[str, int], register_sizes: list[int]) -> dict[str, int]:
    """Aer's hexadecimal counts as the bitstrings `Result.get_counts` gives, registers
    separated by spaces (the last register first), at a fraction of its cost: on a
    50-point sweep of 10 qubits `get_counts` took about 1 ms per point."""
    total = sum(register_sizes)
    widths = list(reversed(register_sizes))
    counts: dict[str, int] = {}
    for key, count in raw.items():
        bits = format(int(key, 16), f"0{total}b")
        if len(widths) > 1:
            parts, start = [], 0
            for width in widths:
                parts.append(bits[start : start + width])
                start += width
            bits = " ".join(parts)
        counts[bits] = counts.get(bits, 0) + int(count)
    return counts


def top_counts(raw: dict[str, int], register_sizes: list[int], top: int) -> dict[str, int]:
    """The `top` most frequent outcomes as bitstrings (ties by outcome), sorted by outcome."""
    chosen = heapq.nsmallest(top, raw.items(), key=lambda kv: (-kv[1], int(kv[0], 16)))
    return dict(sorted(bitstring_counts(dict(chosen), register_sizes).items()))
