"""A circuit drawn as a picture: what `qop validate --draw FILE.png` writes.

It draws the canonical QPY the validator made (so a Python circuit is never run here,
outside the sandbox), with Qiskit's matplotlib drawer, which the `plot` extra brings
(matplotlib and pylatexenc).
"""

from __future__ import annotations

from pathlib import Path

from qiskit_operator.circuits.serialization import from_qpy
from qiskit_operator.errors import UserError


def draw_circuit(qpy: bytes, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")  # a file, never a window
        import pylatexenc  # type: ignore[import-untyped]  # noqa: F401  # Qiskit's drawer needs it
    except ImportError as error:
        raise UserError(
            "drawing needs matplotlib and pylatexenc: pip install 'qiskit-operator[plot]'",
            reason="MissingExtra",
        ) from error
    (circuit,) = from_qpy(qpy)[:1]
    figure = circuit.draw(output="mpl", fold=30)
    try:
        figure.savefig(path, format="png", dpi=100, bbox_inches="tight")
    except OSError as error:
        raise UserError(f"the drawing could not be written to {path}: {error.strerror}") from error
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)
