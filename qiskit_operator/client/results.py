"""`OperatorResult`: Qiskit's PrimitiveResult that also draws itself in Jupyter.

Made by `OperatorJob.result()`. In a notebook a sampler's pub shows as a histogram
of its counts (or, for a sweep, each frequent outcome's probability against the
parameter), an estimator's as its expectation values with error bars
(`qiskit_operator.plots`).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit.primitives import PrimitiveResult, PubResult, SamplerPubResult

from qiskit_operator import plots
from qiskit_operator.client.pubs import PubRequest

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class OperatorResult(PrimitiveResult[Any]):  # type: ignore[misc]
    def __init__(
        self,
        pub_results: Sequence[PubResult],
        metadata: dict[str, Any] | None = None,
        layouts: Sequence[PlotLayout | None] = (),
    ) -> None:
        super().__init__(pub_results, metadata)
        # Per pub, how its plot is laid out (pubs.PlotLayout); None: by its shape alone.
        self._layouts = list(layouts) + [None] * (len(pub_results) - len(layouts))

    def figure(self, index: int = 0) -> Figure:
        """The picture of pub `index`'s result."""
        return pub_figure(self[index], self._layouts[index], f"pub {index}")

    def _repr_png_(self) -> bytes | None:
        return plots.png(self.figure(0)) if len(self) else None

    def _repr_html_(self) -> str:
        parts = [f"<p>PrimitiveResult: {len(self)} pub result(s)</p>"]
        for index, pub in enumerate(self):
            fields = ", ".join(html.escape(name) for name in pub.data)
            image = base64.b64encode(plots.png(self.figure(index))).decode()
            parts.append(
                f"<p>pub {index}: shape {pub.data.shape}, fields {fields}</p>"
                f'<img src="data:image/png;base64,{image}"/>'
            )
        return "\n".join(parts)


def pub_figure(pub: PubResult, layout: PlotLayout | None, title: str) -> Figure:
    shape = tuple(pub.data.shape)
    layout = layout or PlotLayout(len(shape) - 1 if shape else None, None, None)
    size = int(np.prod(shape, dtype=int))
    if isinstance(pub, SamplerPubResult):
        joined = pub.join_data()
        flat = joined.reshape(size)
        if layout.axis is None:
            return plots.counts_figure(flat.get_counts(0), f"{title}: {joined.num_shots} shots")
        counts = [flat.get_counts(i) for i in range(size)]
        at = layout.element_xs
        if at is not None:
            # Every element against its parameter's value, in order of that value.
            order = sorted(range(size), key=at.__getitem__)
            xs = [at[i] for i in order]
            counts = [counts[i] for i in order]
            return plots.sweep_figure(
                xs, plots.outcome_series(counts), "parameter value", "probability", title
            )
        indices = [float(i) for i in range(size)]
        return plots.sweep_figure(
            indices, plots.outcome_series(counts), "element", "probability", title
        )
    evs = np.asarray(pub.data.evs, dtype=float)
    stds = np.asarray(getattr(pub.data, "stds", np.zeros_like(evs)), dtype=float)
    if layout.axis is None:
        labels = layout.labels or [f"element {j}" for j in range(size)]
        return plots.values_figure(
            labels, evs.reshape(-1).tolist(), stds.reshape(-1).tolist(), title
        )
    if layout.element_xs is not None and layout.element_labels is not None:
        return plots.sweep_figure(
            [],
            _by_observable(layout.element_xs, layout.element_labels, evs, stds),
            "parameter value",
            "expectation value",
            title,
        )
    columns = np.moveaxis(evs, layout.axis, 0).reshape(shape[layout.axis], -1)
    errors = np.moveaxis(stds, layout.axis, 0).reshape(columns.shape)
    xs, xlabel = _axis(layout, columns.shape[0])
    labels = layout.labels or [f"element {j}" for j in range(columns.shape[1])]
    series = [
        plots.Series(labels[j], columns[:, j].tolist(), errors[:, j].tolist())
        for j in range(columns.shape[1])
    ]
    return plots.sweep_figure(xs, series, xlabel, "expectation value", title)


def _by_observable(
    xs: list[float], labels: list[str], evs: np.ndarray[Any, Any], stds: np.ndarray[Any, Any]
) -> list[plots.Series]:
    """One line per observable: its every element against the parameter, in order."""
    lines = []
    values, errors = evs.reshape(-1), stds.reshape(-1)
    for label in dict.fromkeys(labels):
        mine = sorted((xs[i], i) for i, each in enumerate(labels) if each == label)
        lines.append(
            plots.Series(
                label,
                [float(values[i]) for _, i in mine],
                [float(errors[i]) for _, i in mine],
                [x for x, _ in mine],
            )
        )
    return lines


def _axis(layout: PlotLayout, size: int) -> tuple[list[float], str]:
    if layout.xs is not None and len(layout.xs) == size:
        return layout.xs, "parameter value"
    return [float(i) for i in range(size)], f"index along axis {layout.axis}"


@dataclass(frozen=True)
class PlotLayout:
    axis: int | None
    """The pub's axis along the plot's x axis; None where its bindings never change: a
    histogram of counts, or a bar per observable."""
    xs: list[float] | None
    """The parameter's value along that axis, when the circuit has one parameter."""
    labels: list[str] | None
    """Estimator: each line's (or, without an axis, each bar's) observable."""
    element_xs: list[float] | None = None
    """The parameter's value at every element, flattened, when the circuit has one."""
    element_labels: list[str] | None = None
    """Estimator: the observable at every element, flattened."""


def plot_layout(request: PubRequest) -> PlotLayout:
    """How the pub's values are drawn: along the axis where its bindings change
    (against the parameter's value when the circuit has one parameter), one line
    per element of the other axes, named by its observable."""
    rows = request.manifest["spec"]["execution"].get("parameterValues") or []
    axis = next(
        (a for a in range(len(request.shape)) if np.ptp(request.binding_index, axis=a).any()),
        None,
    )
    xs = element_xs = None
    if rows and len(rows[0]) == 1:
        values = np.asarray(rows, dtype=float)[:, 0]
        element_xs = [float(values[i]) for i in request.binding_index.reshape(-1)]
    if axis is not None and rows and len(rows[0]) == 1:
        along = np.moveaxis(request.binding_index, axis, 0).reshape(request.shape[axis], -1)[:, 0]
        xs = [float(np.asarray(rows, dtype=float)[i, 0]) for i in along]
    labels = element_labels = None
    texts = request.manifest["spec"]["execution"].get("observables")
    if request.observable_index is not None and texts:
        index = request.observable_index
        first = (
            index.reshape(-1)
            if axis is None
            else np.moveaxis(index, axis, 0).reshape(request.shape[axis], -1)[0]
        )
        labels = [str(texts[i]) for i in first]
        element_labels = [str(texts[i]) for i in index.reshape(-1)]
    return PlotLayout(axis, xs, labels, element_xs, element_labels)
