"""`qop run` shows a job's progress with its phases."""

from __future__ import annotations

from tests.serving import qop


def test_qop_run_shows_a_sweeps_progress_when_scheduled_and_completed() -> None:
    result = qop("run", "examples/ry-sweep.yaml")
    assert result.returncode == 0, result.stderr
    moves = {line.split()[3]: line for line in result.stdout.splitlines() if " ms  " in line}
    assert "[0/5 parameter sets]" in moves["Scheduled"]
    assert "[5/5 parameter sets]" in moves["Completed"]
