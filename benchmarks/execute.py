"""Our execute function beside raw Qiskit Aer (the floor), side by side in one run.

For each workload it times raw Aer as a careful user would call it (one
simulator reused, the circuit transpiled once beforehand when Aer cannot run it
as written) and our execute handler on the `job.validated` event validate would
send (decoding the event and the QPY circuit, running, summarising, encoding
the reply). Then the overhead, against the project's targets: at most 3 ms on
Bell, at most 15 % where Aer itself takes 50 ms or more. Last, the transpile
cache: the first QFT job (transpiled) against a repeated one (cached).

    .venv/bin/python benchmarks/execute.py [--iterations 30] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Parameter
from qiskit.circuit.library import QFTGate
from qiskit_aer import AerSimulator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qiskit_operator.circuits.analysis import plan
from qiskit_operator.circuits.work import validated_work
from qiskit_operator.events import payloads, types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.executing import Executor
from qiskit_operator.results import ResultStore

SHOTS = 1024


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure_all()
    return qc


def qft(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    qc.h(range(n))
    qc.append(QFTGate(n), range(n))
    qc.measure_all()
    return qc


def sweep_circuit(n: int) -> QuantumCircuit:
    theta = Parameter("theta")
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.ry(theta, q)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    qc.measure_all()
    return qc


def event_for(circuit: QuantumCircuit, values: list[list[float]]) -> Envelope:
    chosen = plan(circuit, None, 2 << 30, SHOTS)
    request = payloads.ExecutionRequest(
        shots=SHOTS, optimization_level=1, seed=1, method=chosen.method, parameter_values=values
    )
    work = validated_work(circuit, request)
    return Envelope(type=types.JOB_VALIDATED, source="/bench", data=payloads.encode(work))


def timed(call: Callable[[], object], iterations: int) -> list[float]:
    call()  # warm-up: first calls build simulators and caches
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    iterations = 3 if args.quick else args.iterations
    logging.basicConfig(level=logging.WARNING)
    load = os.getloadavg()[0]
    simulator = AerSimulator()
    values = [[float(t)] for t in np.linspace(0, np.pi, 50)]
    sweep = sweep_circuit(10)
    theta = sweep.parameters[0]
    workloads: list[tuple[str, QuantumCircuit, list[list[float]], Callable[[], object]]] = []
    for name, circuit in (("Bell x1024", bell()), ("GHZ-24", ghz(24)), ("QFT-16", qft(16))):
        runnable = transpile(circuit, simulator, optimization_level=1)
        workloads.append(
            (
                name,
                circuit,
                [],
                lambda c=runnable: simulator.run(c, shots=SHOTS, seed_simulator=1).result(),
            )
        )
    sweep_runnable = transpile(sweep, simulator, optimization_level=1)
    workloads.append(
        (
            "sweep, 50 points, 10 qubits",
            sweep,
            values,
            lambda: simulator.run(
                sweep_runnable,
                shots=SHOTS,
                seed_simulator=1,
                parameter_binds=[{theta: [v[0] for v in values]}],
            ).result(),
        )
    )

    with tempfile.TemporaryDirectory() as results:
        executor = Executor(ResultStore(Path(results)))
        rows = []
        for name, circuit, bindings, raw in workloads:
            event = event_for(circuit, bindings)
            raw_ms = statistics.median(timed(raw, iterations))
            ours_ms = statistics.median(timed(lambda e=event: executor.handle(e), iterations))
            rows.append((name, raw_ms, ours_ms))
        fresh = Executor(ResultStore(Path(results)))
        cache_event = event_for(qft(14), [])
        started = time.perf_counter()
        fresh.handle(cache_event)
        first_ms = (time.perf_counter() - started) * 1000
        repeat_ms = statistics.median(timed(lambda: fresh.handle(cache_event), iterations))
        executor.close()
        fresh.close()

    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, qiskit {version('qiskit')}, qiskit-aer "
        f"{version('qiskit-aer')}; load {load:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    print(
        f"{'workload':<30}{'raw Aer ms':>12}{'execute ms':>12}{'overhead':>12}{'ratio':>8}  target"
    )
    for name, raw_ms, ours_ms in rows:
        extra = ours_ms - raw_ms
        if name.startswith("Bell"):
            target = f"<= 3 ms: {'met' if extra <= 3 else 'NOT met'}"
        elif raw_ms >= 50:
            target = f"<= 15%: {'met' if extra <= 0.15 * raw_ms else 'NOT met'}"
        else:
            target = "(Aer < 50 ms: no target)"
        print(
            f"{name:<30}{raw_ms:>12.2f}{ours_ms:>12.2f}{extra:>+11.2f} {ours_ms / raw_ms:>7.2f}x"
            f"  {target}"
        )
    print(f"{'transpile cache, QFT-14: first job':<42}{first_ms:>12.2f} ms")
    print(
        f"{'transpile cache, QFT-14: same job again':<42}{repeat_ms:>12.2f} ms (median of "
        f"{iterations})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
