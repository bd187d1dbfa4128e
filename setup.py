"""Puts the checkout's knative/ and functions/ folders into the wheel.

`qop` reads two things that are not modules of the package: the Trigger manifests
(knative/triggers.yaml routes `qop run`'s events, as on a cluster) and the
functions' entry points (functions/NAME/main.py, loaded by `qop serve` and
`qop run --http`). They stay where they are in the repository, the one copy
anyone edits; building the wheel copies both folders, unchanged, into
qiskit_operator/_bundled/, where qiskit_operator/package_files.py finds them
when no checkout is there. tests/integration/test_wheel.py fails when a built
wheel's copy differs from the repository's.

Everything else about the package is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = ("knative", "functions")
# Proof that a folder is the repository's and whole, not an empty or partial copy.
REQUIRED = ("knative/triggers.yaml", "functions/validate/main.py")


class BuildPyWithBundledFolders(build_py):
    """build_py, then the folders of BUNDLED under qiskit_operator/_bundled/."""

    def run(self) -> None:
        super().run()
        # An editable install runs from the checkout, where the folders already are.
        if self.editable_mode:
            return
        missing = [name for name in REQUIRED if not (HERE / name).is_file()]
        if missing:
            # Without them the wheel would install and then fail at `qop run`: fail here.
            raise SystemExit(
                f"cannot build qiskit-operator: {', '.join(missing)} missing beside setup.py; "
                "build from a full checkout or sdist (MANIFEST.in lists what an sdist carries)"
            )
        target = Path(self.build_lib) / "qiskit_operator" / "_bundled"
        for name in BUNDLED:
            if (target / name).exists():
                shutil.rmtree(target / name)
            shutil.copytree(
                HERE / name,
                target / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )


setup(cmdclass={"build_py": BuildPyWithBundledFolders})
