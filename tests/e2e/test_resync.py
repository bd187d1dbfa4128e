"""A job applied while the event source is down is not lost: Knative's adapter never
sends it (not even when it starts again), and reconcile's resync, on the
PingSource's event, asks for it again; the job then runs to Completed."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from qiskit_operator.local.stack import Stack
from tests.conftest import example
from tests.e2e.test_kubectl_apply import wait_phase


def status_of(stack: Stack, name: str) -> dict[str, object]:
    job = json.loads(stack.kubectl("get", "qjob", name, "-o", "json").stdout)
    return dict(job.get("status") or {})


def source_is_live(stack: Stack) -> str:
    """Applies a fresh job each 3 s until one gets a status (the restarted source is
    watching: what it finds at its start it never sends); that job's name."""
    manifest = example("bell.yaml")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        name = manifest["metadata"]["name"] = f"after-restart-{int(time.monotonic())}"
        stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
        for _ in range(15):
            if status_of(stack, name):
                return str(name)
            time.sleep(0.2)
    raise AssertionError(f"the restarted source sent nothing in 60 s\n{stack.logs()}")


@pytest.mark.timeout(240)
def test_a_job_applied_while_the_source_was_down_completes_after_a_ping(stack: Stack) -> None:
    assert stack.source is not None
    manifest = example("bell.yaml")
    manifest["metadata"]["name"] = "missed"
    stack.source.stop()
    try:
        stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    finally:
        stack.restart_source()
    # The source is back and sends what happens now...
    live = source_is_live(stack)
    wait_phase(stack, live, "Completed")
    # ...but not the job applied while it was down.
    time.sleep(2.0)  # older than QOP_RESYNC_AFTER_SECONDS (conftest.py)
    assert status_of(stack, "missed") == {}

    stack.ping()
    wait_phase(stack, "missed", "Completed")
    status = status_of(stack, "missed")
    assert status["observedGeneration"] == 1
    assert sum(dict(status["results"])["counts"].values()) == 1024  # type: ignore[call-overload]
    described = stack.kubectl("describe", "qjob", "missed").stdout
    assert "Resynced" in described
    assert "No event about generation 1 reached the operator" in described

    stack.ping()  # seen now: asked for no more
    time.sleep(1.0)
    events = stack.kubectl(
        "get", "events", "--field-selector", "involvedObject.name=missed,reason=Resynced",
        "-o", "jsonpath={.items[*].count}",
    ).stdout.split()  # fmt: skip
    assert events == ["1"]
