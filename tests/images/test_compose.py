"""`docker compose up` of docker-compose.yml with compose v2 and the images `make images`
loaded: the stack becomes healthy, the validation API answers, and a job's add event
posted to the Broker goes through validate and execute, and its job.completed reaches
reconcile. There is no Kubernetes API in the stack, so reconcile finds no job to write
Completed to and replies no job.finished (docker-compose.yml says so; `qop dev up` and
the e2e tests have the whole loop). tests/images/compose.host.yml puts it on loopback."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from qiskit_operator.events import types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.http import to_binary
from qiskit_operator.local.pipeline import admit
from tests.conftest import BELL_QASM2, ROOT, job_manifest
from tests.images.engine import Engine, free_port

pytestmark = pytest.mark.timeout(600)


class Stack:
    def __init__(self, engine: Engine, ports: dict[str, int]) -> None:
        self.engine = engine
        self.ports = ports
        self.project = f"qop-test-{uuid.uuid4().hex[:8]}"
        self.env = {f"QOP_{name.upper()}_PORT": str(port) for name, port in ports.items()}

    def compose(self, *args: str, timeout: float = 300) -> str:
        files = [
            "-f",
            str(ROOT / "docker-compose.yml"),
            "-f",
            str(ROOT / "tests/images/compose.host.yml"),
        ]
        result = Engine({**self.engine.env, **self.env}).docker(
            "compose", "--project-name", self.project, *files, *args, timeout=timeout, check=False
        )
        assert result.returncode == 0, f"docker compose {' '.join(args)}:\n{result.stderr[-4000:]}"
        return result.stdout + result.stderr

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"


@pytest.fixture(scope="module")
def stack(engine: Engine) -> Iterator[Stack]:
    ports = {name: free_port() for name in ("validate", "execute", "reconcile", "broker")}
    running = Stack(engine, ports)
    try:
        running.compose(
            "up", "--detach", "--no-build", "--wait", "--wait-timeout", "300", timeout=400
        )
        yield running
    finally:
        running.compose("down", "--volumes", "--timeout", "30", timeout=120)


def test_the_compose_stack_is_healthy_and_the_validation_api_answers(stack: Stack) -> None:
    ps = stack.compose("ps", "--format", "{{.Service}} {{.Health}}")
    assert sorted(ps.split()) == sorted(
        ["broker", "healthy", "execute", "healthy", "reconcile", "healthy", "validate", "healthy"]
    )
    body = requests.post(f"{stack.url('validate')}/validate", json={"code": BELL_QASM2}, timeout=60)
    assert body.json()["valid"] is True


def test_a_job_posted_to_the_broker_reaches_reconcile_as_job_completed(stack: Stack) -> None:
    name = f"bell-compose-{uuid.uuid4().hex[:6]}"
    added = resource_event(admit(job_manifest(name=name, seed=5)), types.APISERVER_ADD)
    headers, body = to_binary(added)
    answer = requests.post(f"{stack.url('broker')}/", data=body, headers=headers, timeout=30)
    assert answer.status_code == 202, answer.text
    # Reconcile logs each event it takes, with the job and the event's type.
    wanted = f"({types.JOB_COMPLETED}): there is no job default/{name}"
    deadline, logs = time.monotonic() + 240, ""
    while time.monotonic() < deadline:
        logs = stack.compose("logs", "--no-color", "reconcile", timeout=60)
        if wanted in logs:
            return
        time.sleep(0.5)
    raise AssertionError(f"{name}'s job.completed never reached reconcile:\n{logs[-4000:]}")
