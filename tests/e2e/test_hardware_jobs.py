"""A hardware job on the fake provider with a queue, on a real API server: Queued
with its job id, then through a reconcile restart to Completed, submitted once."""

from __future__ import annotations

import json
import time

import pytest

from qiskit_operator.local.stack import Stack
from tests.conftest import ROOT
from tests.e2e.test_resync import resynced


def status_of(stack: Stack, name: str) -> dict[str, object]:
    job = json.loads(stack.kubectl("get", "qjob", name, "-o", "json").stdout)
    found: dict[str, object] = job.get("status", {})
    return found


def wait_for(stack: Stack, name: str, phase: str, ping: bool, timeout: float = 120) -> None:
    """Until the job reads `phase`; with `ping`, pinging as the PingSource would."""
    deadline = time.monotonic() + timeout
    while status_of(stack, name).get("phase") != phase:
        assert time.monotonic() < deadline, f"{name} not {phase}: {status_of(stack, name)}"
        if ping:
            resynced(stack)
        time.sleep(0.5)


@pytest.mark.timeout(300)
def test_a_hardware_job_survives_a_reconcile_restart_and_completes_exactly_once(
    stack: Stack,
) -> None:
    stack.kubectl("apply", "-f", str(ROOT / "examples" / "hardware-job.yaml"))
    wait_for(stack, "bell-remote", "Queued", ping=False)
    job_id = status_of(stack, "bell-remote")["jobId"]
    reconcile = stack.functions["reconcile"]
    reconcile.stop()
    reconcile.start()
    reconcile.wait_ready()
    wait_for(stack, "bell-remote", "Completed", ping=True)
    status = status_of(stack, "bell-remote")
    assert status["jobId"] == job_id
    counts = status["results"]["counts"]  # type: ignore[index]
    assert set(counts) == {"00", "11"}
    provider_jobs = list((stack.workdir / "results" / ".fake-provider").glob("*.json"))
    assert [json.loads(p.read_text())["id"] for p in provider_jobs] == [job_id]
    described = stack.kubectl("describe", "qjob", "bell-remote").stdout
    assert "Queued" in described  # the Event of the submission
