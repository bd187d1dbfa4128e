"""How long a Bell job takes in each function, through the whole pipeline, and on bare Aer.

Measures, with `time.perf_counter` after a warm-up, the median and p90 of: the
validate handler (inline Python through the sandbox, and OpenQASM 2), the
execute handler, the reconcile handler (add, validated and completed events
for a fresh job), the whole pipeline in-process and over HTTP (`LocalPipeline`),
and `AerSimulator().run(qc, shots=1024).result()` with a new and with a reused
simulator. It ends with the ratio pipeline / raw Aer against the 3x target.

Run from the repository root:

    .venv/bin/python benchmarks/pipeline.py               # 200 iterations, 100 over HTTP
    .venv/bin/python benchmarks/pipeline.py --quick       # a few, for a smoke test
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import qiskit
import qiskit_aer
from qiskit import QuantumCircuit
from qiskit_aer import AerSimulator

from qiskit_operator import validating, wiring
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.local.jobfile import load_job_manifest
from qiskit_operator.local.pipeline import LocalPipeline, admit
from qiskit_operator.models import QiskitJob
from qiskit_operator.models.phases import Phase
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 3.0
BELL_QASM2 = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0], q[1];
measure q[0] -> c[0];
measure q[1] -> c[1];
"""

Step = Callable[[], object]


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    seconds: list[float]
    error: str = ""

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1e3

    @property
    def p90_ms(self) -> float:
        return statistics.quantiles(self.seconds, n=10, method="inclusive")[-1] * 1e3


def measure(name: str, prepare: Callable[[], Step], iterations: int, warmup: int) -> Figure:
    """Time `prepare()()` per iteration; only the step `prepare` returns is timed."""
    for _ in range(warmup):
        prepare()()
    seconds = []
    for _ in range(iterations):
        step = prepare()
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    print(f"  measured {name}", file=sys.stderr, flush=True)
    return Figure(name, seconds)


def renamed(manifest: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(manifest)
    obj["metadata"]["name"] = f"bench-{uuid.uuid4().hex[:12]}"
    return obj


def completed(job: QiskitJob) -> QiskitJob:
    if job.status is None or job.status.phase != Phase.COMPLETED:
        raise RuntimeError(f"{job.key} ended {job.status}; the benchmark is meaningless")
    return job


def handler_figures(bell: dict[str, Any], qasm: dict[str, Any], n: int, w: int) -> list[Figure]:
    settings = Settings.from_env()
    validator = wiring.validator(settings)
    validator.sandbox.wait_warm()
    executor = wiring.executor(settings)
    store = MemoryStatusStore()
    reconciler = Reconciler(store)
    try:
        add = resource_event(admit(bell), types.APISERVER_ADD)
        qasm_add = resource_event(admit(qasm), types.APISERVER_ADD)
        validated = validator.handle(add)
        assert validated is not None and validated.type == types.JOB_VALIDATED, validated
        done = executor.handle(validated)
        assert done is not None and done.type == types.JOB_COMPLETED, done
        work = payloads.decode(validated.type, validated.data)
        outcome = payloads.decode(done.type, done.data)

        def fresh_job() -> Step:
            # Reconcile is idempotent: replaying the same events would measure a no-op.
            obj = admit(renamed(bell))
            store.add(QiskitJob.model_validate(obj))
            event = resource_event(obj, types.APISERVER_ADD)
            ref = payloads.JobRef(namespace=obj["metadata"]["namespace"],
                                  name=obj["metadata"]["name"], uid=obj["metadata"]["uid"],
                                  generation=1)
            replies = [_reply(event, types.JOB_VALIDATED, msgspec.structs.replace(work, job=ref)),
                       _reply(event, types.JOB_COMPLETED, msgspec.structs.replace(outcome, job=ref))]
            return lambda: [reconciler.handle(e) for e in (event, *replies)]

        return [
            measure("validate (Python, sandbox)", lambda: lambda: validator.handle(add), n, w),
            measure("validate (OpenQASM 2)", lambda: lambda: validator.handle(qasm_add), n, w),
            measure("execute", lambda: lambda: executor.handle(validated), n, w),
            measure("reconcile (add+validated+completed)", fresh_job, n, w),
        ]
    finally:
        validator.sandbox.close()


def _reply(event: Envelope, type_: str, payload: payloads.Reply) -> Envelope:
    return event.reply(type_, validating.SOURCE, payloads.encode(payload))


def pipeline_figure(bell: dict[str, Any], *, http: bool, n: int, w: int) -> Figure:
    name = f"pipeline, {'HTTP' if http else 'in-process'}"
    try:
        with LocalPipeline(http=http) as pipeline:
            return measure(name, lambda: lambda: completed(pipeline.run(renamed(bell))), n, w)
    except Exception as error:  # one broken figure must not hide the others
        logging.getLogger(__name__).exception("%s failed", name)
        return Figure(name, [], f"{type(error).__name__}: {error}")


def aer_figures(n: int, w: int) -> list[Figure]:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    simulator = AerSimulator()
    return [
        measure("raw Aer, new AerSimulator", lambda: lambda: AerSimulator().run(
            qc, shots=1024).result(), n, w),
        measure("raw Aer, reused simulator", lambda: lambda: simulator.run(
            qc, shots=1024).result(), n, w),
    ]


def report(figures: list[Figure]) -> None:
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, qiskit {qiskit.__version__}, "
          f"qiskit-aer {qiskit_aer.__version__}")
    width = max(len(f.name) for f in figures)
    print(f"{'benchmark':<{width}}  {'median ms':>10}  {'p90 ms':>10}  {'iterations':>10}")
    for f in figures:
        if f.error:
            print(f"{f.name:<{width}}  FAILED: {f.error}")
            continue
        print(f"{f.name:<{width}}  {f.median_ms:>10.2f}  {f.p90_ms:>10.2f}  {len(f.seconds):>10}")
    by_name = {f.name: f for f in figures if not f.error}
    if "pipeline, in-process" not in by_name:
        return
    pipeline = by_name["pipeline, in-process"].median_ms
    for aer in ("raw Aer, new AerSimulator", "raw Aer, reused simulator"):
        print(f"pipeline in-process / {aer}: {pipeline / by_name[aer].median_ms:.2f}x")
    ratio = pipeline / by_name["raw Aer, new AerSimulator"].median_ms
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"target: within {TARGET_RATIO:g}x of raw Aer (new AerSimulator) for Bell: {verdict}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200, help="timed runs per figure")
    parser.add_argument("--http-iterations", type=int, default=100,
                        help="timed runs of the pipeline over HTTP")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs before each")
    parser.add_argument("--quick", action="store_true", help="5 iterations, 2 warm-up")
    args = parser.parse_args(argv)
    n, n_http, w = args.iterations, args.http_iterations, args.warmup
    if args.quick:
        n, n_http, w = 5, 5, 2
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("qiskit", "werkzeug"):  # werkzeug sets itself to INFO when left unset
        logging.getLogger(noisy).setLevel(logging.WARNING)
    bell = load_job_manifest(ROOT / "examples" / "bell.yaml")
    qasm = copy.deepcopy(bell)
    qasm["spec"]["circuit"].update(code=BELL_QASM2, format="qasm2")
    figures = [
        *handler_figures(bell, qasm, n, w),
        pipeline_figure(bell, http=False, n=n, w=w),
        pipeline_figure(bell, http=True, n=n_http, w=w),
        *aer_figures(n, w),
    ]
    report(figures)
    if any(f.error for f in figures):
        sys.exit(1)


if __name__ == "__main__":
    main()
