"""No job is lost to a lost event. A job applied while the event source is down is
never sent by Knative's adapter (not even when it starts again): reconcile's resync,
on the PingSource's event, asks for it again, and it runs to Completed. A job that
was seen and then lost its next event fails as stalled, saying so."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

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


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.2)


def age_seconds(stack: Stack, name: str) -> float:
    created = stack.kubectl(
        "get", "qjob", name, "-o", "jsonpath={.metadata.creationTimestamp}"
    ).stdout
    return (datetime.now(UTC) - datetime.fromisoformat(created)).total_seconds()


def resynced(stack: Stack) -> str:
    """A ping, once reconcile has answered it: its resync has written all it would."""
    assert stack.broker is not None
    broker, ping = stack.broker, stack.ping()
    wait_until(lambda: any(event == ping for _, event in broker.delivered), "ping answered")
    return ping


def hours_ago(hours: float) -> str:
    moment = datetime.now(UTC) - timedelta(hours=hours)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


# What reconcile wrote of a job that was validated two hours ago, after which the
# job.validated event was lost (a channel that kept it in memory restarted).
STUCK_STATUS = {
    "phase": "Scheduled",
    "message": "Scheduled on aer_simulator",
    "observedGeneration": 1,
    "startTime": hours_ago(2),
    "conditions": [
        {
            "type": "Validated",
            "status": "True",
            "reason": "CircuitValid",
            "message": "2 qubits, depth 3",
            "lastTransitionTime": hours_ago(2),
            "observedGeneration": 1,
        }
    ],
}


@pytest.mark.timeout(240)
def test_jobs_lost_events_left_behind_are_mended_after_a_ping(stack: Stack) -> None:
    assert stack.source is not None
    manifest = example("bell.yaml")
    stack.source.stop()
    try:
        manifest["metadata"]["name"] = "stuck"
        stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
        stack.kubectl(
            "patch", "qjob", "stuck", "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": STUCK_STATUS}),
        )  # fmt: skip
        manifest["metadata"]["name"] = "missed"
        stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    finally:
        stack.restart_source()
    # The source is back and sends what happens now...
    live = source_is_live(stack)
    wait_phase(stack, live, "Completed")
    # ...but not the job applied while it was down, before the live one.
    assert status_of(stack, "missed") == {}
    # Older than QOP_RESYNC_AFTER_SECONDS (conftest.py), with a second to spare: the
    # timestamp has whole seconds.
    wait_until(lambda: age_seconds(stack, "missed") > 3, "missed older than the resync age")

    resynced(stack)
    wait_phase(stack, "stuck", "Failed")
    message = str(status_of(stack, "stuck")["message"])
    assert message.startswith("Stalled in Scheduled: nothing has moved this job since")
    assert "Change its spec, or apply it again under a new name" in message
    wait_phase(stack, "missed", "Completed")
    status = status_of(stack, "missed")
    assert status["observedGeneration"] == 1
    assert sum(dict(status["results"])["counts"].values()) == 1024  # type: ignore[call-overload]
    described = stack.kubectl("describe", "qjob", "missed").stdout
    assert "Resynced" in described
    assert "No event about generation 1 reached the operator" in described

    resynced(stack)  # seen now: asked for no more
    events = stack.kubectl(
        "get", "events", "--field-selector", "involvedObject.name=missed,reason=Resynced",
        "-o", "jsonpath={.items[*].count}",
    ).stdout.split()  # fmt: skip
    assert events == ["1"]
