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


TOKEN = "fake-token-e2e-5f0c2a9d"  # what must show nowhere


def with_credentials(stack: Stack) -> None:
    """The namespace's default Secret holding TOKEN, readable by execute alone."""
    manifest = (ROOT / "examples" / "credentials" / "namespace-credentials.yaml").read_text()
    stack.kubectl(
        "-n", "default", "apply", "-f", "-",
        stdin=manifest.replace("fake-token-replace-me", TOKEN),
    )  # fmt: skip


@pytest.mark.timeout(300)
def test_a_hardware_job_survives_a_reconcile_restart_and_completes_exactly_once(
    stack: Stack,
) -> None:
    with_credentials(stack)
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


@pytest.mark.timeout(300)
def test_the_token_shows_in_no_status_event_or_function_log(stack: Stack) -> None:
    with_credentials(stack)
    manifest = (ROOT / "examples" / "hardware-job.yaml").read_text()
    stack.kubectl(
        "apply", "-f", "-", stdin=manifest.replace("name: bell-remote", "name: bell-token")
    )
    wait_for(stack, "bell-token", "Completed", ping=True)
    job = stack.kubectl("get", "qjob", "bell-token", "-o", "json").stdout
    events = stack.kubectl("get", "events", "-n", "default", "-o", "json").stdout
    assert "bell-token" in events
    logs = {name: (stack.workdir / f"{name}.log").read_text() for name in stack.functions}
    assert "bell-token" in logs["execute"]  # the logs are the ones that handled it
    for where, text in {"status": job, "events": events, **logs}.items():
        assert TOKEN not in text, where


@pytest.mark.timeout(300)
def test_a_job_whose_secret_is_missing_fails_saying_which_secret_to_create(
    stack: Stack,
) -> None:
    manifest = (ROOT / "examples" / "hardware-job.yaml").read_text()
    manifest = manifest.replace("name: bell-remote", "name: bell-nosecret").replace(
        "  backend:", "  credentials:\n    secretRef:\n      name: absent-account\n  backend:"
    )
    stack.kubectl("apply", "-f", "-", stdin=manifest)
    wait_for(stack, "bell-nosecret", "Failed", ping=False)
    message = str(status_of(stack, "bell-nosecret")["message"])
    # Execute may read only qiskit-credentials by name: another Secret is forbidden,
    # and the message says what to bind.
    assert "Secret default/absent-account" in message
    assert "docs/credentials.md" in message
