"""The pictures: `qop run --plot`, `qop validate --draw`, and the client's results in
Jupyter. Each test checks the file is a PNG and the figure holds the right data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from qiskit_operator import plots
from qiskit_operator.client import Estimator, Sampler
from qiskit_operator.local.pipeline import LocalPipeline
from tests import primitives_proof as proof
from tests.conftest import ROOT, example
from tests.serving import qop

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def lines_of(figure: Figure) -> dict[str, list[tuple[float, float]]]:
    """Each line's (x, y) points by its label; the plots draw lines with error bars."""
    drawn = {}
    for container in figure.axes[0].containers:
        line = container.lines[0]
        if line is not None:
            xy = zip(line.get_xdata(), line.get_ydata(), strict=True)
            drawn[container.get_label()] = [(float(x), float(y)) for x, y in xy]
    return drawn


def test_qop_run_plot_writes_the_sweep_against_its_parameter(tmp_path: Path) -> None:
    picture = tmp_path / "sweep.png"
    result = qop("run", "examples/ry-sweep.yaml", "--plot", str(picture))
    assert result.returncode == 0, result.stderr
    assert picture.read_bytes().startswith(PNG_MAGIC)
    assert f"wrote {picture}" in result.stderr


def test_a_sweeps_figure_has_each_outcomes_probability_at_each_angle() -> None:
    with LocalPipeline() as pipeline:
        job = pipeline.run(example("ry-sweep.yaml"))
    figure = plots.job_figure(job)
    drawn = lines_of(figure)
    assert set(drawn) == {"P(0)", "P(1)"}
    angles = [x for x, _ in drawn["P(1)"]]
    assert angles == pytest.approx([0.0, 0.7854, 1.5708, 2.3562, 3.1416])
    ones = [y for _, y in drawn["P(1)"]]
    assert ones == pytest.approx(np.sin(np.array(angles) / 2) ** 2, abs=0.05)
    assert figure.axes[0].get_xlabel() == "parameter value"


def test_an_estimator_jobs_figure_is_a_bar_per_observable() -> None:
    with LocalPipeline() as pipeline:
        job = pipeline.run(example("bell-estimator.yaml"))
    axes = plots.job_figure(job).axes[0]
    heights = [bar.get_height() for bar in axes.patches]
    assert heights == pytest.approx([1.0, 1.0, 0.0], abs=1e-9)
    assert [t.get_text() for t in axes.get_xticklabels()] == ["ZZ", "XX", "ZI"]


def test_a_counts_figure_shows_the_top_outcomes_and_sums_the_rest() -> None:
    counts = {format(i, "05b"): 10 + i for i in range(32)}
    axes = plots.counts_figure(counts).axes[0]
    labels = [t.get_text() for t in axes.get_xticklabels()]
    assert len(labels) == plots.TOP_OUTCOMES + 1 and labels[-1] == "16 more"
    assert sum(bar.get_height() for bar in axes.patches) == pytest.approx(1.0)


def test_qop_validate_draw_writes_a_picture_of_the_circuit(tmp_path: Path) -> None:
    picture = tmp_path / "bell.png"
    result = qop("validate", str(ROOT / "tests" / "e2e" / "bell.qasm"), "--draw", str(picture))
    assert result.returncode == 0, result.stderr
    assert picture.read_bytes().startswith(PNG_MAGIC)


def test_a_picture_to_an_unwritable_place_is_a_one_line_error(tmp_path: Path) -> None:
    result = qop("run", "examples/bell.yaml", "--plot", str(tmp_path / "no" / "such" / "b.png"))
    assert result.returncode == 2
    assert "could not be written" in result.stderr and "Traceback" not in result.stderr


def test_client_results_display_as_pictures_in_jupyter() -> None:
    with Sampler(local=True, seed=proof.SEED) as sampler:
        grid = proof.sampler_pubs()[3]  # a (2, 3) grid of angles
        sampled = sampler.run(
            [proof.bell_measure_all(), (proof.ry_sweep(), [[0.0], [np.pi]]), grid]
        )
        result = sampled.result()
    assert result._repr_png_().startswith(PNG_MAGIC)
    page = result._repr_html_()
    assert page.count("data:image/png;base64,") == 3 and "fields meas" in page
    swept = lines_of(result.figure(1))
    assert swept["P(1)"] == [(0.0, 0.0), (pytest.approx(np.pi), 1.0)]
    # Every element of the grid, against its angle, in order.
    angles = [x for x, _ in lines_of(result.figure(2))["P(1)"]]
    assert angles == pytest.approx(np.linspace(0, np.pi, 6))
    with Estimator(local=True) as estimator:
        estimated = estimator.run(proof.estimator_pubs()[:2]).result()
    broadcast = lines_of(estimated.figure(0))
    assert set(broadcast) == {"ZZ", "XX", "-IZ + 0.5*ZI"}
    assert [y for _, y in broadcast["ZZ"]] == pytest.approx([np.cos(0.3)] * 4)  # rx(0.3) on q1
    bars = estimated.figure(1).axes[0]
    assert [t.get_text() for t in bars.get_xticklabels()] == ["ZZ", "XX", "YY", "ZI"]
    assert [b.get_height() for b in bars.patches] == pytest.approx([1, 1, -1, 0], abs=1e-9)


def test_an_estimator_pub_over_one_parameter_plots_each_observable_against_it() -> None:
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    t = Parameter("t")
    ry = QuantumCircuit(1)
    ry.ry(t, 0)
    angles = np.linspace(0, np.pi, 6)
    grid = angles.reshape(3, 2, 1, 1)  # broadcast against ["Z", "X"]: shape (3, 2, 2)
    with Estimator(local=True) as estimator:
        result = estimator.run([(ry, ["Z", "X"], grid)]).result()
    drawn = lines_of(result.figure(0))
    assert set(drawn) == {"Z", "X"}
    assert [x for x, _ in drawn["Z"]] == pytest.approx(angles)
    assert [y for _, y in drawn["Z"]] == pytest.approx(np.cos(angles), abs=1e-9)
    assert [y for _, y in drawn["X"]] == pytest.approx(np.sin(angles), abs=1e-9)
