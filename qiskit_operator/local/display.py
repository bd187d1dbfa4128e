"""What `qop run` shows in a terminal: phases as they change, the final status and
a histogram of the counts."""

from __future__ import annotations

import time
from typing import TextIO

from qiskit_operator import tracing
from qiskit_operator.models import QiskitJob

TRACE_ANNOTATION = "quantum.io/trace-id"
"""Where `qop run --output json` puts the job's trace id (`tracing.trace_id_for`)."""
_BAR = 40
_TOP = 16


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class PhasePrinter:
    """Listens to the status store and prints each new phase once."""

    def __init__(self, out: TextIO) -> None:
        self._out: TextIO | _Discard = out
        self._last: str | None = None
        self._started = time.perf_counter()

    def start(self, job_key: str) -> None:
        self._started = time.perf_counter()
        self._print(job_key, "Pending", "submitted")

    def __call__(self, job: QiskitJob) -> None:
        status = job.status
        if status is None or status.phase is None:
            return
        # A phase is printed once, and again when its progress moved.
        shown = f"{status.phase.value} {status.progress or ''}"
        if shown == self._last:
            return
        progress = f"[{status.progress}] " if status.progress else ""
        self._print(job.key, status.phase.value, progress + (status.message or ""))
        self._last = shown

    def _print(self, key: str, phase: str, message: str) -> None:
        self._last = phase
        elapsed = (time.perf_counter() - self._started) * 1000
        try:
            self._out.write(f"{elapsed:8.1f} ms  {key:<24} {phase:<11} {message}\n")
            self._out.flush()
        except BrokenPipeError:
            self._out = _Discard()  # the reader went away (`qop run ... | head`)


def histogram(counts: dict[str, int], width: int = _BAR) -> list[str]:
    if not counts:
        return []
    total = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ordered[:_TOP]
    peak = shown[0][1]
    label = max(len(k) for k, _ in shown)
    lines = []
    for outcome, count in shown:
        bar = "█" * max(1, round(width * count / peak))
        lines.append(f"  {outcome:>{label}} │{bar:<{width}} {count:>7} {100 * count / total:5.1f}%")
    if len(ordered) > _TOP:
        rest = sum(c for _, c in ordered[_TOP:])
        lines.append(f"  ({len(ordered) - _TOP} more outcomes, {rest} shots)")
    return lines


def summary(job: QiskitJob) -> list[str]:
    status = job.status
    if status is None:
        return [f"{job.key}: no status"]
    lines = [f"{job.key}: {status.phase.value if status.phase else 'Unknown'}"]
    if status.message:
        lines.append(f"  message:   {status.message}")
    trace_id = tracing.trace_id_for(job.metadata.uid or "")
    if trace_id:
        lines.append(f"  trace:     {trace_id}")
    meta = status.circuit_metadata
    if meta:
        lines.append(
            f"  circuit:   {meta.qubits} qubits, depth {meta.depth}, {meta.gates} "
            f"instructions, hash {meta.hash[:12]}"
        )
    metrics = status.metrics
    if metrics and metrics.execution_seconds is not None:
        lines.append(
            f"  timings:   validate {1000 * (metrics.validation_seconds or 0):.1f} ms, "
            f"transpile {1000 * (metrics.transpile_seconds or 0):.1f} ms, "
            f"simulate {1000 * metrics.execution_seconds:.1f} ms "
            f"({metrics.method}{', transpiled' if metrics.transpiled else ''})"
        )
    if status.estimated_cost is not None and status.estimated_cost.amount > 0:
        actual = f", actual {status.actual_cost}" if status.actual_cost is not None else ""
        lines.append(f"  cost:      estimated {status.estimated_cost}{actual}")
    results = status.results
    if results is None:
        return lines
    if results.counts:
        more = (
            f", {results.outcomes} outcomes"
            if (results.outcomes or 0) > len(results.counts)
            else ""
        )
        lines.append(f"  counts ({results.shots} shots{more}):")
        lines.extend(histogram(results.counts))
    observables = job.spec.execution.observables if job.spec else None
    if results.expectation_values is not None:
        lines.append("  expectation values:")
        for name, value, error in zip(
            observables or [],
            results.expectation_values,
            results.standard_errors or [],
            strict=False,
        ):
            lines.append(f"  {name:>16} = {value:+.6f} ± {error:.6f}")
    if results.sweep:
        lines.append(f"  sweep ({len(results.sweep)} bindings):")
        for entry in results.sweep:
            parameters = ", ".join(f"{p:.4g}" for p in entry.parameters)
            if entry.expectation_values is not None:
                shown = ", ".join(f"{v:+.4f}" for v in entry.expectation_values)
            else:
                counts = entry.counts or {}
                total = sum(counts.values()) or 1
                shown = "  ".join(
                    f"{k}: {100 * v / total:.1f}%"
                    for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:4]
                )
            lines.append(f"    [{parameters}]  {shown}")
    if results.location:
        lines.append(f"  full result: {results.location}")
    return lines
