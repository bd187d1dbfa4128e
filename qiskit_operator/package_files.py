"""Where `qop` finds the files it reads that are not modules of the package.

Two folders: knative/ (its triggers.yaml routes the events of `qop run` and
`qop broker`, as the Broker does on a cluster) and functions/ (each function's
main.py, loaded by `qop serve` and `qop run --http`). In a checkout they are read
where they are, beside the package, so an edit counts at once; a wheel carries a
copy of both in qiskit_operator/_bundled/, made by setup.py when the wheel is
built. Settings takes its defaults from here (QOP_KNATIVE_DIR and
QOP_FUNCTIONS_DIR override them); the dev cluster asks `checkout()` because it
needs what only a checkout has (controlplane/build.sh).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
BUNDLED = _PACKAGE / "_bundled"
"""The copies a wheel carries; absent in a checkout."""


def checkout() -> Path | None:
    """The repository this package is imported from, or None when it was installed
    from a wheel (then site-packages, not a repository, holds the package)."""
    root = _PACKAGE.parent
    if (root / "pyproject.toml").is_file() and (root / "knative").is_dir():
        return root
    return None


def knative_dir() -> Path:
    """knative/ of the checkout, else the wheel's copy."""
    return _tree() / "knative"


def functions_dir() -> Path:
    """functions/ of the checkout, else the wheel's copy."""
    return _tree() / "functions"


def _tree() -> Path:
    return checkout() or BUNDLED
