"""Many jobs at once, and a reconcile that goes away mid-run: no job is lost."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from qiskit_operator.local.stack import Stack
from tests.conftest import BELL_QASM2, example


def jobs(prefix: str, count: int, shots: int = 256) -> str:
    documents = []
    for index in range(count):
        manifest = example("bell.yaml")
        manifest["metadata"]["name"] = f"{prefix}-{index:02d}"
        manifest["spec"]["circuit"]["code"] = BELL_QASM2
        manifest["spec"]["execution"] = {"shots": shots, "seed": index}
        documents.append(manifest)
    return yaml.safe_dump_all(documents)


def phases(stack: Stack, prefix: str) -> dict[str, str]:
    listing = json.loads(stack.kubectl("get", "qjob", "-o", "json").stdout)
    return {
        item["metadata"]["name"]: item.get("status", {}).get("phase", "")
        for item in listing["items"]
        if item["metadata"]["name"].startswith(prefix)
    }


def wait_all_completed(stack: Stack, prefix: str, count: int, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        seen = phases(stack, prefix)
        if len(seen) == count and all(p in ("Completed", "Failed") for p in seen.values()):
            break
        time.sleep(0.5)
    return seen


@pytest.mark.timeout(300)
def test_fifty_jobs_applied_at_once_all_complete(stack: Stack) -> None:
    stack.kubectl("apply", "-f", "-", stdin=jobs("many", 50))
    seen = wait_all_completed(stack, "many", 50, timeout=180)
    assert len(seen) == 50
    assert sorted(set(seen.values())) == ["Completed"], seen


@pytest.mark.timeout(300)
def test_a_reconcile_restart_mid_run_loses_no_job(stack: Stack) -> None:
    reconcile = stack.functions["reconcile"]
    stack.kubectl("apply", "-f", "-", stdin=jobs("restart", 12))
    # Mid-run: reconcile has written a first status, and not all jobs have finished.
    deadline = time.monotonic() + 60
    while not any(phases(stack, "restart").values()):
        assert time.monotonic() < deadline, "reconcile wrote no status in 60 s"
        time.sleep(0.1)
    reconcile.stop()  # events for reconcile now fail; the broker retries with backoff
    time.sleep(1.0)  # down for a while: how long does not matter, only that it was
    reconcile.start()
    reconcile.wait_ready()
    seen = wait_all_completed(stack, "restart", 12, timeout=120)
    assert len(seen) == 12
    assert sorted(set(seen.values())) == ["Completed"], seen
