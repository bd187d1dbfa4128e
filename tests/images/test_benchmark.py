"""benchmarks/images.py still runs (in its quick mode) against the images `make images`
made, so that it cannot rot."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.images.engine import Engine


@pytest.mark.timeout(600)
def test_the_images_benchmark_runs_and_prints_its_figures(engine: Engine) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "images.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=580,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.startswith("machine:")
    assert "cold start to /ready" in result.stdout and "FAILED" not in result.stdout
