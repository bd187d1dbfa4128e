"""What `kubectl qiskit` prints: a job's results as text (the histogram `qop run`
draws, or a table of expectation values), as JSON or YAML for `-o`, and its phase
changes while `run --wait` watches it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO

import yaml

from qiskit_operator.local.display import histogram
from qiskit_operator.models import QiskitJob


def dump(document: Any, output: str) -> str:
    if output == "json":
        return json.dumps(document, indent=2)
    return str(yaml.safe_dump(document, sort_keys=False))


def results_document(job: QiskitJob, full: Mapping[str, Any] | None) -> dict[str, Any]:
    """What `results -o json|yaml` prints: the status's results, and every point of the
    full result when the job stored one."""
    status = job.status
    results = status.results if status is not None else None
    document: dict[str, Any] = {
        "name": job.metadata.name,
        "namespace": job.metadata.namespace,
        "phase": str(status.phase) if status is not None and status.phase else None,
        "results": results.model_dump(by_alias=True, exclude_none=True, mode="json")
        if results is not None
        else None,
    }
    if full is not None:
        document["points"] = full.get("points")
        document["registers"] = full.get("registers")
        document["observables"] = full.get("observables")
    return document


def results_text(job: QiskitJob, full: Mapping[str, Any] | None) -> list[str]:
    status = job.status
    results = status.results if status is not None else None
    key = f"{job.metadata.namespace}/{job.metadata.name}"
    if results is None:
        return [f"{key}: no results"]
    observables = (job.spec.execution.observables if job.spec else None) or []
    points = list((full or {}).get("points") or [])
    lines = [f"{key}: {results.shots} shots" if results.shots else key]
    if results.sweep:
        lines.append(f"sweep of {len(results.sweep)} parameter sets:")
        for index, entry in enumerate(results.sweep):
            parameters = ", ".join(f"{p:.4g}" for p in entry.parameters)
            if entry.expectation_values is not None:
                shown = "  ".join(
                    f"{name}={value:+.4f}"
                    for name, value in zip(observables, entry.expectation_values, strict=False)
                )
            else:
                counts = points[index]["counts"] if index < len(points) else entry.counts or {}
                total = sum(counts.values()) or 1
                shown = "  ".join(
                    f"{k}: {100 * v / total:.1f}%"
                    for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:4]
                )
            lines.append(f"  [{parameters}]  {shown}")
        return lines
    if results.expectation_values is not None:
        width = max((len(name) for name in observables), default=10)
        lines.append(f"  {'OBSERVABLE':<{width}}  {'VALUE':>10}  {'STD ERROR':>10}")
        errors = results.standard_errors or [0.0] * len(results.expectation_values)
        for name, value, error in zip(
            observables, results.expectation_values, errors, strict=False
        ):
            lines.append(f"  {name:<{width}}  {value:>+10.6f}  {error:>10.6f}")
        return lines
    counts = points[0]["counts"] if points else results.counts or {}
    lines.extend(histogram(counts))
    return lines


class PhaseLine:
    """Prints a job's phase (and its progress) each time either changes."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._last: tuple[str, str] | None = None

    def __call__(self, job: QiskitJob) -> None:
        status = job.status
        phase = str(status.phase) if status is not None and status.phase else "Pending"
        progress = _progress(job)
        if (phase, progress) == self._last:
            return
        self._last = (phase, progress)
        message = status.message if status is not None and status.message else ""
        shown = f"  [{progress}]" if progress else ""
        self._out.write(f"{job.metadata.name}  {phase:<10}{shown}  {message}".rstrip() + "\n")
        self._out.flush()


def _progress(job: QiskitJob) -> str:
    status = job.status
    return str(getattr(status, "progress", None) or "")
