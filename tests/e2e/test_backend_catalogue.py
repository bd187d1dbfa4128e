"""The QiskitBackend catalogue on a real API server: applied with kubectl, its
status written by reconcile on the ping, shown by `kubectl get qbackend`."""

from __future__ import annotations

import json

from qiskit_operator.local.stack import Stack
from tests.conftest import ROOT
from tests.e2e.test_kubectl_apply import wait_phase
from tests.e2e.test_resync import resynced, wait_until

EXAMPLE_BACKENDS = ("aer-simulator", "braket-local", "ibm-fake-manila")


def states(stack: Stack) -> dict[str, str | None]:
    listed = json.loads(stack.kubectl("get", "qbackend", "-o", "json").stdout)
    return {
        item["metadata"]["name"]: item.get("status", {}).get("state") for item in listed["items"]
    }


def test_the_example_backends_are_refreshed_on_the_ping_and_listed_by_kubectl(
    stack: Stack,
) -> None:
    stack.kubectl("apply", "-f", str(ROOT / "examples" / "backends"))
    resynced(stack)
    wait_until(
        lambda: all(states(stack).get(name) == "Available" for name in EXAMPLE_BACKENDS),
        "every example backend Available",
    )
    table = stack.kubectl("get", "qbackend").stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "FAMILY",
        "DEVICE",
        "QUBITS",
        "STATE",
        "QUEUE",
        "PER-SHOT",
        "AGE",
    ]
    rows = {line.split()[0]: line.split()[1:7] for line in table[1:]}
    assert rows["ibm-fake-manila"] == [
        "ibm_runtime",
        "fake_manila",
        "5",
        "Available",
        "0",
        "0.0001",
    ]


def test_a_backend_marked_unavailable_reads_so_after_the_next_ping(stack: Stack) -> None:
    stack.kubectl("apply", "-f", str(ROOT / "examples" / "backends" / "braket-local.yaml"))
    stack.kubectl(
        "patch", "qbackend", "braket-local", "--type=merge",
        "-p", '{"spec": {"availability": "Unavailable"}}',
    )  # fmt: skip
    resynced(stack)
    wait_until(lambda: states(stack).get("braket-local") == "Unavailable", "braket-local marked")
    stack.kubectl(
        "patch", "qbackend", "braket-local", "--type=merge",
        "-p", '{"spec": {"availability": "Available"}}',
    )  # fmt: skip


def test_a_job_falls_back_when_its_preferred_device_is_marked_unavailable(
    stack: Stack,
) -> None:
    stack.kubectl("apply", "-f", str(ROOT / "examples" / "backends"))
    stack.kubectl(
        "patch", "qbackend", "ibm-fake-manila", "--type=merge",
        "-p", '{"spec": {"availability": "Unavailable"}}',
    )  # fmt: skip
    try:
        stack.kubectl("apply", "-f", str(ROOT / "examples" / "bell-selected.yaml"))
        wait_phase(stack, "bell-selected", "Completed")
    finally:
        stack.kubectl(
            "patch", "qbackend", "ibm-fake-manila", "--type=merge",
            "-p", '{"spec": {"availability": "Available"}}',
        )  # fmt: skip
    job = json.loads(stack.kubectl("get", "qjob", "bell-selected", "-o", "json").stdout)
    status = job["status"]
    assert status["selectedBackend"] == "aer_simulator"
    assert (status["originalBackend"], status["fallbackUsed"]) == ("ibm-fake-manila", True)
    selected = next(c for c in status["conditions"] if c["type"] == "BackendSelected")
    assert selected["reason"] == "Fallback"
    assert "ibm-fake-manila is Unavailable" in selected["message"]
    described = stack.kubectl("describe", "qjob", "bell-selected").stdout
    assert "FallbackUsed" in described
