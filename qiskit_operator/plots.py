"""Pictures of results: a histogram of counts, or a sweep's values against its parameter
with error bars, as PNG.

Used by `qop run --plot`, `kubectl qiskit results --plot` and the client's results in
Jupyter (`OperatorResult._repr_png_`). matplotlib comes with the `plot` extra; it is
drawn on a bare Figure (no pyplot), so no window and no global state. Imports no Qiskit.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qiskit_operator.errors import UserError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from qiskit_operator.models import QiskitJob

TOP_OUTCOMES = 16
"""Bars in a histogram; the rest are summed into one bar, as `qop run` prints them."""
SWEPT_OUTCOMES = 4


@dataclass(frozen=True)
class Series:
    """One line of a sweep plot: its values and their standard errors, if any."""

    label: str
    values: Sequence[float]
    errors: Sequence[float] | None = None
    xs: Sequence[float] | None = None
    """Its own x values, where the lines of one plot do not share them."""


def _figure() -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise UserError(
            "pictures need matplotlib: pip install 'qiskit-operator[plot]'",
            reason="MissingExtra",
        ) from error
    return Figure(figsize=(7, 4), layout="constrained")


def counts_figure(counts: Mapping[str, int], title: str = "") -> Figure:
    """Bars of the most frequent outcomes, in outcome order, as probabilities."""
    figure = _figure()
    axes = figure.add_subplot()
    total = sum(counts.values()) or 1
    shown = sorted(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_OUTCOMES])
    labels = [k for k, _ in shown]
    values = [v / total for _, v in shown]
    rest = total - sum(v for _, v in shown)
    if rest:
        labels.append(f"{len(counts) - len(shown)} more")
        values.append(rest / total)
    bars = axes.bar(range(len(values)), values, color="#6929c4")
    axes.bar_label(bars, labels=[f"{v:.3f}" for v in values], fontsize=8)
    axes.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 6 else 0)
    axes.set_ylabel("probability")
    axes.set_xlabel("outcome")
    axes.set_ylim(0, min(1.0, max(values, default=1) * 1.15) or 1)
    axes.set_title(title or f"{total} shots")
    return figure


def sweep_figure(
    xs: Sequence[float], series: Sequence[Series], xlabel: str, ylabel: str, title: str = ""
) -> Figure:
    figure = _figure()
    axes = figure.add_subplot()
    for line in series:
        axes.errorbar(
            xs if line.xs is None else line.xs,
            line.values,
            yerr=line.errors,
            label=line.label,
            marker="o",
            capsize=3,
        )
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    if len(series) > 1 or (series and series[0].label):
        axes.legend()
    axes.set_title(title)
    return figure


def values_figure(
    labels: Sequence[str], values: Sequence[float], errors: Sequence[float] | None, title: str
) -> Figure:
    """One bar per observable, with its standard error: values that share no axis."""
    figure = _figure()
    axes = figure.add_subplot()
    bars = axes.bar(range(len(values)), values, yerr=errors, capsize=4, color="#1192e8")
    axes.bar_label(bars, labels=[f"{v:+.3f}" for v in values], fontsize=8)
    axes.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 5 else 0)
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_ylabel("expectation value")
    axes.set_xlabel("observable")
    axes.set_ylim(min(-1.1, min(values, default=0) * 1.2), max(1.1, max(values, default=0) * 1.2))
    axes.set_title(title)
    return figure


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def save(figure: Figure, path: Path) -> None:
    try:
        path.write_bytes(png(figure))
    except OSError as error:
        raise UserError(f"the picture could not be written to {path}: {error.strerror}") from error


def job_figure(job: QiskitJob, document: Mapping[str, Any] | None = None) -> Figure:
    """The picture of a finished job: its counts, its expectation values, or its sweep.
    `document` is its full result when there is one (all outcomes, not the top 16)."""
    status = job.status
    results = status.results if status is not None else None
    title = f"{job.metadata.namespace}/{job.metadata.name}"
    if results is None:
        raise UserError(f"qiskitjob {title} has no results to draw yet")
    observables = (job.spec.execution.observables if job.spec else None) or []
    points = list((document or {}).get("points") or [])
    if results.sweep:
        xs, xlabel = _sweep_axis([entry.parameters for entry in results.sweep])
        if results.sweep[0].expectation_values is not None:
            return sweep_figure(
                xs,
                _observable_series(
                    observables,
                    [e.expectation_values or [] for e in results.sweep],
                    [p.get("standard_errors") or [] for p in points],
                ),
                xlabel,
                "expectation value",
                title,
            )
        counts = [p["counts"] for p in points] or [e.counts or {} for e in results.sweep]
        return sweep_figure(xs, outcome_series(counts), xlabel, "probability", title)
    if results.expectation_values is not None:
        values = results.expectation_values
        names = list(observables) + [
            f"observable {i}" for i in range(len(observables), len(values))
        ]
        return values_figure(names, values, results.standard_errors, title)
    outcomes: Mapping[str, int] = points[0]["counts"] if points else results.counts or {}
    return counts_figure(outcomes, f"{title}: {sum(outcomes.values())} shots")


def _sweep_axis(parameters: list[list[float]]) -> tuple[list[float], str]:
    if parameters and all(len(p) == 1 for p in parameters):
        return [p[0] for p in parameters], "parameter value"
    return list(range(len(parameters))), "binding"


def _observable_series(
    observables: Sequence[str], values: list[list[float]], errors: list[list[float]]
) -> list[Series]:
    width = len(values[0]) if values else 0
    names = list(observables) + [f"observable {i}" for i in range(len(observables), width)]
    return [
        Series(
            names[i],
            [row[i] for row in values],
            [row[i] for row in errors] if errors and all(errors) else None,
        )
        for i in range(width)
    ]


def outcome_series(counts: list[Mapping[str, int]]) -> list[Series]:
    """P(outcome) at each binding, for the outcomes most frequent over the whole sweep."""
    overall: dict[str, int] = {}
    for each in counts:
        for outcome, count in each.items():
            overall[outcome] = overall.get(outcome, 0) + count
    top = sorted(overall, key=lambda k: (-overall[k], k))[:SWEPT_OUTCOMES]
    return [
        Series(
            f"P({outcome})",
            [each.get(outcome, 0) / (sum(each.values()) or 1) for each in counts],
        )
        for outcome in sorted(top)
    ]
