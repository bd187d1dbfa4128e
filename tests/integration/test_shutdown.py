"""How a served function stops when Knative scales it down: a real `qop serve` process
gets SIGTERM with a request in flight. Also the compose file that runs the stack locally."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from qiskit import QuantumCircuit

from qiskit_operator.circuits.work import validated_work
from qiskit_operator.events import payloads, types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import to_binary
from qiskit_operator.routing.triggers import load_triggers
from tests.conftest import ROOT
from tests.serving import served


def bell_validated(not_before: float) -> Envelope:
    """Bell as validate sends it, marked as a retry that waits until `not_before`: a
    request that stays in flight for a known time on any machine, then really runs."""
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    request = payloads.ExecutionRequest(
        shots=1000, optimization_level=1, seed=7, attempt=2, not_before=not_before
    )
    work = validated_work(qc, request)
    return Envelope(type=types.JOB_VALIDATED, source="/tests", data=payloads.encode(work))


def post_in_background(base: str, event: Envelope) -> tuple[threading.Thread, dict[str, Any]]:
    """POST `event`; the outcome (a response or the error, and when) lands in the dict."""
    outcome: dict[str, Any] = {}
    headers, body = to_binary(event)

    def send() -> None:
        try:
            outcome["response"] = requests.post(base, data=body, headers=headers, timeout=60)
        except requests.RequestException as error:
            outcome["error"] = error
        outcome["at"] = time.monotonic()

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    return sender, outcome


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.05)


def events_received(base: str) -> float:
    """execute's count of job.validated events taken by a handler, from its /metrics
    (served by a thread the request in flight does not hold)."""
    text = requests.get(f"{base}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "qop_events_received_total"
        and sample.labels.get("type") == types.JOB_VALIDATED
    )


def refused_or_reset(base: str) -> bool:
    """Whether a new request gets no answer: its connection refused, or reset."""
    try:
        requests.get(f"{base}/health", timeout=15)
    except requests.ConnectionError:
        return True
    return False


def refuses_connections(base: str) -> bool:
    host, port = base.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def group_members(leader: int) -> list[int]:
    """Processes still alive in the process group `leader` led (zombies excluded)."""
    members = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == leader and fields[0] != "Z":
                members.append(int(pid))
    return members


@pytest.mark.timeout(90)
def test_a_request_in_flight_at_sigterm_is_answered_and_new_ones_are_not(tmp_path: Path) -> None:
    with served("execute", tmp_path, WORKERS="2") as (server, base):
        # In flight for 10 s: it waits out its backoff in a worker, then really runs.
        sender, outcome = post_in_background(base, bell_validated(time.time() + 10.0))
        wait_until(lambda: events_received(base) == 1, "the request reached a worker")
        assert "at" not in outcome, "answered before SIGTERM: nothing was in flight"
        server.send_signal(signal.SIGTERM)
        # A new request is not served: no worker accepts any more, so a connection the
        # kernel completes meanwhile is reset when the last worker exits, and any later
        # one is refused.
        wait_until(lambda: refused_or_reset(base), "new requests refused after SIGTERM")
        sender.join(30)
        response = outcome.get("response")
        assert response is not None, outcome.get("error")
        assert response.status_code == 200
        assert response.headers["ce-type"] == types.JOB_COMPLETED
        assert set(response.json()["counts"]) == {"00", "11"}
        # Within gunicorn's 25 s graceful timeout: it exits once the request is answered.
        assert server.wait(20) == 0
        assert refuses_connections(base)


@pytest.mark.timeout(120)
def test_a_request_longer_than_the_graceful_timeout_is_cut_off_and_the_server_exits(
    tmp_path: Path,
) -> None:
    with served("execute", tmp_path, WORKERS="1", QOP_GRACEFUL_TIMEOUT_SECONDS="1") as (
        server,
        base,
    ):
        # In flight for a minute (execute's longest backoff), far past the graceful 1 s.
        sender, outcome = post_in_background(base, bell_validated(time.time() + 60.0))
        wait_until(lambda: events_received(base) == 1, "the request reached a worker")
        server.send_signal(signal.SIGTERM)
        # Long before the request would have ended, the server is gone...
        assert server.wait(30) == 0
        sender.join(30)
        # ...and the request has no answer: the Broker sees a dropped connection and
        # delivers the event again.
        assert isinstance(outcome.get("error"), requests.ConnectionError), outcome


@pytest.mark.timeout(60)
def test_validate_stopped_by_sigterm_exits_zero_and_leaves_no_sandbox_behind(
    tmp_path: Path,
) -> None:
    with served("validate", tmp_path, WORKERS="2") as (server, base):
        answer = requests.post(f"{base}/validate", json={"code": "qc = ("}, timeout=30)
        assert answer.status_code == 200 and answer.json()["valid"] is False
        # The master, its two workers, and a sandbox zygote with its warm children.
        assert len(group_members(server.pid)) > 3
        server.send_signal(signal.SIGTERM)
        assert server.wait(15) == 0
        deadline = time.monotonic() + 5
        while group_members(server.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert group_members(server.pid) == []


def test_docker_compose_runs_validate_on_8000_and_a_broker_routing_to_all_three() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"validate", "execute", "reconcile", "broker"}
    for name in ("validate", "execute", "reconcile"):
        service = services[name]
        assert service["build"] == {
            "context": ".",
            "dockerfile": f"Dockerfiles/{name}.Dockerfile",
            # python:3.11-slim unless PYTHON_IMAGE (and RUNTIME_IMAGE) name images/base.sh's
            # Debian pair.
            "args": {
                "PYTHON_IMAGE": "${PYTHON_IMAGE:-python:3.11-slim}",
                "RUNTIME_IMAGE": "${RUNTIME_IMAGE:-${PYTHON_IMAGE:-python:3.11-slim}}",
            },
        }
        # The names `make images` loads, so `docker compose up` after it builds nothing.
        assert service["image"] == f"qiskit-operator/{name}:${{VERSION:-dev}}"
        port = service["environment"]["PORT"]
        assert f"http://127.0.0.1:{port}/ready" in " ".join(service["healthcheck"]["test"])
        # Longer than the 25 s a function drains for, so it is never killed mid-request.
        assert service["stop_grace_period"] == "30s"
    assert services["validate"]["ports"] == ["8000:8000"]
    for name in ("execute", "reconcile"):  # one results volume, where both look for it
        results = services[name]["environment"]["QOP_RESULTS_DIR"]
        assert services[name]["volumes"] == [f"results:{results}"]
        # The image makes that directory, owned by its user, so the new volume is writable.
        assert results in (ROOT / f"Dockerfiles/{name}.Dockerfile").read_text()
    assert "results" in compose["volumes"]
    broker = services["broker"]["entrypoint"]
    assert broker[:2] == ["qop", "broker"] and broker[broker.index("--port") + 1] == "8090"
    subscribers = dict(
        broker[i + 1].split("=", 1) for i, arg in enumerate(broker) if arg == "--subscriber"
    )
    assert set(subscribers) == {t.subscriber for t in load_triggers(ROOT / "knative/triggers.yaml")}
    for service, url in subscribers.items():
        name = service.removeprefix("qiskit-")
        assert url == f"http://{name}:{services[name]['environment']['PORT']}/"
