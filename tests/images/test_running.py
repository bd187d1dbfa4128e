"""Each image for this machine's platform, run as knative/services.yaml runs it: a
read-only root, uid 1000, no capabilities, no-new-privileges, a tmpfs at /tmp."""

from __future__ import annotations

import json

import pytest
import requests

from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import from_request, to_binary
from qiskit_operator.local.pipeline import admit
from tests.conftest import BELL_PYTHON, BELL_QASM2, job_manifest
from tests.images.engine import Engine

pytestmark = pytest.mark.timeout(600)

ESCAPE = "import os\nos.system('id')\n"


def post_event(base: str, event: Envelope) -> Envelope:
    headers, body = to_binary(event)
    answer = requests.post(f"{base}/", data=body, headers=headers, timeout=120)
    assert answer.status_code == 200, answer.text
    return from_request(dict(answer.headers), answer.content)


def test_validate_answers_health_ready_and_validates_bell_and_refuses_an_escape(
    engine: Engine,
) -> None:
    with engine.serving("qiskit-operator/validate:dev", "validate") as base:
        assert requests.get(f"{base}/health", timeout=10).json()["status"] == "healthy"
        assert requests.get(f"{base}/ready", timeout=10).status_code == 200
        bell = requests.post(f"{base}/validate", json={"code": BELL_PYTHON}, timeout=60).json()
        assert bell["valid"] is True and (bell["qubits"], bell["depth"]) == (2, 3)
        escape = requests.post(f"{base}/validate", json={"code": ESCAPE}, timeout=60).json()
        assert escape["valid"] is False


def test_execute_answers_a_validated_job_with_completed_and_bell_counts(engine: Engine) -> None:
    added = resource_event(admit(job_manifest(name="bell-in-image", seed=7)), types.APISERVER_ADD)
    with engine.serving("qiskit-operator/validate:dev", "validate") as validate:
        validated = post_event(validate, added)
    assert validated.type == types.JOB_VALIDATED
    with engine.serving("qiskit-operator/execute:dev", "execute") as execute:
        completed = post_event(execute, validated)
    assert completed.type == types.JOB_COMPLETED
    payload = payloads.decode(completed.type, completed.data)
    assert isinstance(payload, payloads.JobCompleted)
    assert payload.counts is not None and set(payload.counts) == {"00", "11"}
    assert sum(payload.counts.values()) == 1024


def test_qop_exec_in_the_execute_image_keeps_circuit_code_and_backend_type(
    engine: Engine,
) -> None:
    env = {"CIRCUIT_CODE": BELL_QASM2, "BACKEND_TYPE": "local_simulator", "SHOTS": "200"}
    result = engine.run("qiskit-operator/execute:dev", "exec", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout)
    assert answer["success"] is True
    assert set(answer["counts"]) == {"00", "11"} and sum(answer["counts"].values()) == 200


def test_reconcile_serves_health_and_ready(engine: Engine) -> None:
    with engine.serving("qiskit-operator/reconcile:dev", "reconcile") as base:
        assert requests.get(f"{base}/health", timeout=10).status_code == 200
        assert requests.get(f"{base}/ready", timeout=10).status_code == 200


def test_a_read_only_root_without_a_writable_tmp_is_one_line_saying_to_mount_one(
    engine: Engine,
) -> None:
    result = engine.run("qiskit-operator/reconcile:dev", flags=(), timeout=120)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert (
        line.startswith("qop: no writable temporary directory") and "mount a writable /tmp" in line
    )


def test_a_setting_with_a_bad_value_stops_the_image_at_start_with_one_line(
    engine: Engine,
) -> None:
    result = engine.run("qiskit-operator/validate:dev", env={"WORKERS": "two"}, timeout=120)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("qop: WORKERS='two' is not a whole number: it accepts 0, 1, 2")
