"""How long a Bell job takes in each function, through the whole pipeline, and on bare Aer.

Measures, with `time.perf_counter` after a warm-up, the median and p90 of: the
validate handler (inline Python through the sandbox, and OpenQASM 2), the
execute handler, the reconcile handler (add, validated and completed events
for a fresh job), the whole pipeline in-process and over HTTP (`LocalPipeline`,
started once, one job with a fresh name per iteration), and
`AerSimulator().run(qc, shots=1024).result()` with a new and with a reused
simulator. It ends with the ratio pipeline / raw Aer against the 3x target.
Iterations run back to back, so the sandbox refilling its pool counts.

Run from the repository root (exits 1 when a figure could not be measured):

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

from qiskit_operator import wiring
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.local.jobfile import load_job_manifest
from qiskit_operator.local.pipeline import LocalPipeline, admit
from qiskit_operator.models import QiskitJob
from qiskit_operator.models.phases import Phase
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 3.0
PIPELINE = "pipeline Python, in-process"
AER = "raw Aer, new AerSimulator"
BELL_QASM2 = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\n'
    "h q[0];\ncx q[0], q[1];\nmeasure q[0] -> c[0];\nmeasure q[1] -> c[1];\n"
)

log = logging.getLogger("benchmarks.pipeline")


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


def measure(name: str, step: Callable[[], object], iterations: int, warmup: int) -> Figure:
    for _ in range(warmup):
        step()
    seconds = []
    for _ in range(iterations):
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    print(f"  measured {name}", file=sys.stderr, flush=True)
    return Figure(name, seconds)


def renamed(manifest: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(manifest)
    obj["metadata"]["name"] = f"bench-{uuid.uuid4().hex[:12]}"
    return obj


def expect_completed(job: QiskitJob) -> None:
    if job.status is None or job.status.phase != Phase.COMPLETED:
        raise RuntimeError(f"{job.key} ended as {job.status!r}, so its time means nothing")


def handler_figures(bell: dict[str, Any], qasm: dict[str, Any], n: int, w: int) -> list[Figure]:
    settings = Settings.from_env()
    validator = wiring.validator(settings)
    validator.sandbox.wait_warm()
    executor = wiring.executor(settings)
    store = MemoryStatusStore()
    reconciler = wiring.reconciler(settings, store)
    try:
        add = resource_event(admit(bell), types.APISERVER_ADD)
        qasm_add = resource_event(admit(qasm), types.APISERVER_ADD)
        validated = validator.handle(add)
        assert validated is not None and validated.type == types.JOB_VALIDATED, validated
        done = executor.handle(validated)
        assert done is not None and done.type == types.JOB_COMPLETED, done
        # Reconcile is idempotent, so each iteration gets a job it has not seen; the
        # jobs are made up front so that only the handler is timed.
        batches = iter([fresh_job(bell, store, [validated, done]) for _ in range(n + w)])

        def reconcile_next() -> None:
            for event in next(batches):
                reconciler.handle(event)

        return [
            measure("validate Python (sandbox)", lambda: validator.handle(add), n, w),
            measure("validate OpenQASM 2", lambda: validator.handle(qasm_add), n, w),
            measure("execute", lambda: executor.handle(validated), n, w),
            measure("reconcile add+validated+completed", reconcile_next, n, w),
        ]
    finally:
        validator.sandbox.close()


def fresh_job(
    manifest: dict[str, Any], store: MemoryStatusStore, replies: list[Envelope]
) -> list[Envelope]:
    """A new job in the store: its add event, then `replies` as if they were about it."""
    obj = admit(renamed(manifest))
    store.add(QiskitJob.model_validate(obj))
    add = resource_event(obj, types.APISERVER_ADD)
    meta = obj["metadata"]
    ref = payloads.JobRef(
        namespace=meta["namespace"], name=meta["name"], uid=meta["uid"], generation=1
    )
    own = [(e, msgspec.structs.replace(payloads.decode(e.type, e.data), job=ref)) for e in replies]
    return [add, *(add.reply(e.type, e.source, payloads.encode(p)) for e, p in own)]


def pipeline_figure(
    manifest: dict[str, Any], language: str, *, http: bool, n: int, w: int
) -> Figure:
    name = f"pipeline {language}, {'HTTP' if http else 'in-process'}"
    try:
        with LocalPipeline(http=http) as pipeline:
            return measure(name, lambda: expect_completed(pipeline.run(renamed(manifest))), n, w)
    except Exception as error:  # one broken figure must not hide the others
        log.exception("%s could not be measured", name)
        return Figure(name, [], f"{type(error).__name__}: {error}")


def aer_figures(n: int, w: int) -> list[Figure]:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    simulator = AerSimulator()
    return [
        measure(AER, lambda: AerSimulator().run(qc, shots=1024).result(), n, w),
        measure("raw Aer, reused simulator", lambda: simulator.run(qc, shots=1024).result(), n, w),
    ]


def report(figures: list[Figure], load_before: float) -> None:
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, qiskit {qiskit.__version__}, "
        f"qiskit-aer {qiskit_aer.__version__}; 1-min load average "
        f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    width = max(len(f.name) for f in figures)
    print(f"{'benchmark':<{width}}  {'median ms':>10}  {'p90 ms':>10}  {'iterations':>10}")
    for f in figures:
        if f.error:
            print(f"{f.name:<{width}}  FAILED: {f.error}")
        else:
            print(
                f"{f.name:<{width}}  {f.median_ms:>10.2f}  {f.p90_ms:>10.2f}  {len(f.seconds):>10}"
            )
    ok = {f.name: f for f in figures if not f.error}
    if PIPELINE in ok and AER in ok:
        ratio = ok[PIPELINE].median_ms / ok[AER].median_ms
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        print(
            f"{PIPELINE} / {AER}: {ratio:.1f}x; target within {TARGET_RATIO:g}x for Bell: {verdict}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200, help="timed runs per figure")
    parser.add_argument(
        "--http-iterations", type=int, default=100, help="timed runs of the pipeline over HTTP"
    )
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs before each")
    parser.add_argument("--quick", action="store_true", help="5 runs each, 2 warm-up")
    args = parser.parse_args(argv)
    n, n_http, w = (5, 5, 2) if args.quick else (args.iterations, args.http_iterations, args.warmup)
    if min(n, n_http) < 2:
        parser.error("a p90 needs at least 2 iterations")
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("qiskit", "werkzeug"):  # werkzeug sets itself to INFO when left unset
        logging.getLogger(noisy).setLevel(logging.WARNING)
    load_before = os.getloadavg()[0]
    bell = load_job_manifest(ROOT / "examples" / "bell.yaml")
    qasm = copy.deepcopy(bell)
    qasm["spec"]["circuit"].update(code=BELL_QASM2, format="qasm2")
    figures = [
        *handler_figures(bell, qasm, n, w),
        pipeline_figure(bell, "Python", http=False, n=n, w=w),
        pipeline_figure(qasm, "OpenQASM 2", http=False, n=n, w=w),
        pipeline_figure(bell, "Python", http=True, n=n_http, w=w),
        *aer_figures(n, w),
    ]
    report(figures, load_before)
    if any(f.error for f in figures):
        sys.exit(1)


if __name__ == "__main__":
    main()
