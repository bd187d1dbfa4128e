"""QiskitSession on a real API server: a session opens with its first job, runs its jobs
one at a time, urgent first and in submission order within a priority, and at its
maxTime closes: the job running finishes, the job waiting fails saying so.

The session pins its jobs to the fake provider with a queue (docs/hardware-jobs.md):
its jobs end only when a ping observes them, so the test decides when each turn ends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml

from qiskit_operator.local.stack import Stack
from tests.conftest import BELL_QASM2
from tests.e2e.test_hardware_jobs import with_credentials
from tests.e2e.test_resync import resynced


def session(name: str, max_time: str) -> dict[str, Any]:
    return {
        "apiVersion": "quantum.io/v1",
        "kind": "QiskitSession",
        "metadata": {"name": name},
        "spec": {
            "mode": "dedicated",
            "maxTime": max_time,
            "backend": {"type": "ibm_quantum", "name": "fake_remote"},
        },
    }


def job(name: str, in_session: str, priority: str = "normal") -> dict[str, Any]:
    # Its own backend says Aer: the session's pins it to the fake provider.
    return {
        "apiVersion": "quantum.io/v1",
        "kind": "QiskitJob",
        "metadata": {"name": name},
        "spec": {
            "session": {"name": in_session},
            "circuit": {"code": BELL_QASM2},
            "execution": {"shots": 100, "seed": 5, "priority": priority},
        },
    }


def apply(stack: Stack, *objects: dict[str, Any]) -> None:
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))


def get(stack: Stack, kind: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(stack.kubectl("get", kind, name, "-o", "json").stdout)
    return found


def status(stack: Stack, kind: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = get(stack, kind, name).get("status", {})
    return found


def wait_until(
    condition: Callable[[], bool], what: str, stack: Stack, timeout: float = 120, ping: bool = False
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not {what} in {timeout} s\n{stack.logs()}"
        if ping:
            resynced(stack)
        time.sleep(0.5)


def admitted_at(stack: Stack, name: str) -> datetime:
    for condition in status(stack, "qjob", name).get("conditions", []):
        if condition["type"] == "SessionAdmitted" and condition["status"] == "True":
            return datetime.fromisoformat(condition["lastTransitionTime"].replace("Z", "+00:00"))
    raise AssertionError(f"{name} never had its turn: {status(stack, 'qjob', name)}")


def established(stack: Stack) -> None:
    stack.kubectl(
        "wait", "--for=condition=Established", "crd/qiskitsessions.quantum.io", "--timeout=60s"
    )


@pytest.mark.timeout(420)
def test_a_session_runs_its_jobs_one_at_a_time_urgent_first_then_in_submission_order(
    stack: Stack,
) -> None:
    established(stack)
    with_credentials(stack)
    apply(stack, session("ordered", "10m"), job("o-first", "ordered"))
    # o-first has the turn while the provider queues it: every other job waits behind it
    wait_until(lambda: status(stack, "qjob", "o-first").get("phase") == "Queued", "queued", stack)
    for name, priority in (
        ("o-low", "low"),
        ("o-normal-a", "normal"),
        ("o-normal-b", "normal"),
        ("o-urgent", "urgent"),
    ):
        apply(stack, job(name, "ordered", priority))
        wait_until(
            lambda n=name: "waiting for its turn" in status(stack, "qjob", n).get("message", ""),
            f"{name} waiting",
            stack,
        )
    # The session's count follows its jobs' held events, and the ping recounts it: it
    # may trail the last job's own "waiting" message by a write.
    wait_until(
        lambda: status(stack, "qsession", "ordered").get("waiting") == 4,
        "four waiting in the session's status",
        stack,
        ping=True,
    )
    opened = status(stack, "qsession", "ordered")
    assert opened["state"] == "Open" and opened["running"] == ["o-first"]

    names = ["o-first", "o-urgent", "o-normal-a", "o-normal-b", "o-low"]
    wait_until(
        lambda: all(status(stack, "qjob", n).get("phase") == "Completed" for n in names),
        "all five Completed",
        stack,
        timeout=360,
        ping=True,
    )
    assert sorted(names, key=lambda n: admitted_at(stack, n)) == names
    finished = status(stack, "qsession", "ordered")
    assert (finished["state"], finished["jobsRun"], finished["running"]) == ("Open", 5, [])
    assert finished["timeUsedSeconds"] > 0
    assert finished["cost"]["currency"] == "USD"
    columns = stack.kubectl("get", "qsession", "ordered").stdout.split("\n")[0].split()
    assert columns[:6] == ["NAME", "MODE", "BACKEND", "STATE", "RUNNING", "WAITING"]


@pytest.mark.timeout(300)
def test_at_max_time_the_running_job_finishes_and_the_waiting_one_fails_saying_so(
    stack: Stack,
) -> None:
    established(stack)
    with_credentials(stack)
    apply(stack, session("short", "3s"), job("s-running", "short"))
    wait_until(lambda: status(stack, "qjob", "s-running").get("phase") == "Queued", "queued", stack)
    apply(stack, job("s-waiting", "short"))
    wait_until(
        lambda: "waiting for its turn" in status(stack, "qjob", "s-waiting").get("message", ""),
        "s-waiting waiting",
        stack,
    )
    opened = datetime.fromisoformat(
        status(stack, "qsession", "short")["openedAt"].replace("Z", "+00:00")
    )
    # maxTime passes with nothing happening; the ping (every five minutes on a
    # cluster) is what notices, as it would be on a cluster
    wait_until(
        lambda: datetime.now(opened.tzinfo) > opened + timedelta(seconds=3), "3 s gone", stack
    )
    wait_until(
        lambda: status(stack, "qsession", "short").get("state") == "Closed",
        "closed",
        stack,
        ping=True,
    )
    late = status(stack, "qjob", "s-waiting")
    assert late["phase"] == "Failed"
    assert "session short closed before this job's turn" in late["message"]
    assert "maxTime 3s" in late["message"]
    wait_until(
        lambda: status(stack, "qjob", "s-running").get("phase") == "Completed",
        "the running job Completed",
        stack,
        ping=True,
    )
    closed = status(stack, "qsession", "short")
    assert closed["jobsRun"] == 1 and closed["timeUsedSeconds"] == 3.0
