"""Waiting on QiskitJobs and pods of the Knative node, shared by the tier's tests."""

from __future__ import annotations

import json
import time
from typing import Any

from qiskit_operator.local.knative.install import Knative
from qiskit_operator.local.node.functions import NAMESPACE

FINAL = ("Completed", "Failed", "Cancelled")


def job_status(knative: Knative, name: str, namespace: str = "default") -> dict[str, Any]:
    got = knative.node.kubectl("-n", namespace, "get", "qjob", name, "-o", "json", check=False)
    if got.returncode != 0:
        return {}
    status: dict[str, Any] = json.loads(got.stdout).get("status") or {}
    return status


def final_status(
    knative: Knative, name: str, namespace: str = "default", deadline_s: float = 300
) -> dict[str, Any]:
    """The job's status once its phase is final, or as it was at the deadline."""
    deadline = time.monotonic() + deadline_s
    status = job_status(knative, name, namespace)
    while status.get("phase") not in FINAL and time.monotonic() < deadline:
        time.sleep(0.25)
        status = job_status(knative, name, namespace)
    return status


def function_pods(knative: Knative, function: str) -> list[str]:
    """The names of the function's pods that exist, terminating ones included."""
    listed = knative.node.kubectl(
        "-n",
        NAMESPACE,
        "get",
        "pods",
        "-l",
        f"serving.knative.dev/service=qiskit-{function}",
        "-o",
        "name",
        check=False,
    )
    return listed.stdout.split() if listed.returncode == 0 else []


def wait_until(predicate: Any, deadline_s: float, what: str) -> float:
    """Seconds until `predicate()` held; AssertionError saying `what` at the deadline."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > deadline_s:
            raise AssertionError(f"{what} did not happen within {deadline_s:g} s")
        time.sleep(0.25)
    return time.monotonic() - start
