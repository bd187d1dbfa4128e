"""Every benchmark still runs (in its quick mode), so that none rots when the code moves."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "script",
    [
        "pipeline.py",
        "execute.py",
        "validate.py",
        "coldstart.py",
        "load.py",
        "sandbox.py",
        "slow_clients.py",
    ],
)
def test_the_benchmark_runs_and_prints_its_figures(script: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.startswith("machine:") or "\nmachine:" in result.stdout
    assert "FAILED" not in result.stdout
