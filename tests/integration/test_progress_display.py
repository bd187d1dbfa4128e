"""`qop run` shows a job's progress with its phases, and a long sweep's counts while it
runs (execute's `job.progressed`, delivered in-process)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.e2e.test_sweep_progress import SETS, long_sweep
from tests.serving import qop


def test_qop_run_shows_a_sweeps_progress_when_scheduled_and_completed() -> None:
    result = qop("run", "examples/ry-sweep.yaml")
    assert result.returncode == 0, result.stderr
    moves = {line.split()[3]: line for line in result.stdout.splitlines() if " ms  " in line}
    assert "[0/5 parameter sets]" in moves["Scheduled"]
    assert "[5/5 parameter sets]" in moves["Completed"]


def test_qop_run_shows_a_long_sweeps_count_between_none_and_all_done(tmp_path: Path) -> None:
    job = tmp_path / "long-sweep.yaml"
    job.write_text(yaml.safe_dump(long_sweep()))
    result = qop("run", str(job), timeout=400)
    assert result.returncode == 0, result.stderr
    scheduled = [line for line in result.stdout.splitlines() if " Scheduled " in line]
    counts = [int(m[1]) for line in scheduled if (m := re.search(r"\[(\d+)/\d+ ", line))]
    assert counts[0] == 0
    assert any(0 < count < SETS for count in counts), result.stdout
    assert counts == sorted(counts)
