"""`qop` as a user runs it: a real process, its exit code and what it prints."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import requests

from qiskit_operator.events import types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.http import to_binary
from qiskit_operator.local.pipeline import admit
from tests.conftest import BELL_QASM2, ROOT, job_manifest
from tests.serving import QOP, qop, served


def test_qop_run_bell_ends_completed_with_a_histogram_and_exit_zero() -> None:
    without_log_level = {k: v for k, v in os.environ.items() if k != "LOG_LEVEL"}
    result = qop("run", "examples/bell.yaml", env=without_log_level)
    assert result.returncode == 0, result.stderr
    # The job's moves are on stdout; reconcile's INFO lines about them are not repeated.
    assert result.stderr == ""
    phases = [line.split()[3] for line in result.stdout.splitlines() if " ms  " in line]
    assert phases == ["Pending", "Validating", "Scheduled", "Completed"]
    bars = [line for line in result.stdout.splitlines() if "│" in line]
    assert [bar.split()[0] for bar in bars] in (["00", "11"], ["11", "00"])
    assert "Traceback" not in result.stdout + result.stderr


def test_qop_run_of_the_broken_example_says_where_and_exits_non_zero() -> None:
    result = qop("run", "examples/broken.yaml")
    assert result.returncode == 1
    assert "Failed" in result.stdout
    assert "line 4" in result.stdout and "never closed" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_qop_run_output_json_prints_only_the_final_job() -> None:
    result = qop("run", "examples/ghz.yaml", "--output", "json")
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["kind"] == "QiskitJob"
    assert job["status"]["phase"] == "Completed"
    assert set(job["status"]["results"]["counts"]) == {"00000", "11111"}
    assert job["status"]["observedGeneration"] == 1


def test_qop_run_of_a_missing_file_is_a_one_line_error() -> None:
    result = qop("run", "examples/nope.yaml")
    assert result.returncode == 2
    assert result.stderr.strip() == "qop: examples/nope.yaml: no such file"


def test_qop_validate_prints_the_metadata_of_a_qasm_file(tmp_path: Path) -> None:
    circuit = tmp_path / "bell.qasm"
    circuit.write_text(BELL_QASM2)
    result = qop("validate", str(circuit), "--output", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "qasm2"
    assert (report["qubits"], report["depth"], report["gates"]) == (2, 3, 4)


@pytest.mark.parametrize("suffix", [".py", ".qasm"])
def test_qop_validate_of_a_broken_file_exits_one_with_the_reason(
    tmp_path: Path, suffix: str
) -> None:
    circuit = tmp_path / f"broken{suffix}"
    circuit.write_text("qc = (\n" if suffix == ".py" else "OPENQASM 2.0;\nqreg q[2]\nh q;\n")
    result = qop("validate", str(circuit))
    assert result.returncode == 1
    assert "invalid" in result.stderr and "line" in result.stderr


def test_qop_serve_validate_answers_health_ready_and_a_cloud_event(tmp_path: Path) -> None:
    with served("validate", tmp_path) as (_, base):
        assert requests.get(f"{base}/health", timeout=2).json()["function"] == "validate"
        event = resource_event(admit(job_manifest(name="served")), types.APISERVER_ADD)
        headers, body = to_binary(event)
        answer = requests.post(base, data=body, headers=headers, timeout=30)
        assert answer.status_code == 200
        assert answer.headers["ce-type"] == types.JOB_VALIDATED
        assert requests.post(base, data=b"{}", timeout=5).status_code == 400


def test_qop_exec_keeps_the_original_executors_environment_contract() -> None:
    env = {
        **os.environ,
        "CIRCUIT_CODE": BELL_QASM2,
        "BACKEND_TYPE": "local_simulator",
        "SHOTS": "500",
        "OPTIMIZATION_LEVEL": "2",
    }
    result = subprocess.run(
        [*QOP, "exec"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["success"] is True
    assert sum(output["counts"].values()) == 500 and set(output["counts"]) == {"00", "11"}
    broken = subprocess.run(
        [*QOP, "exec"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**env, "CIRCUIT_CODE": "qc = ("},
        timeout=120,
        check=False,
    )
    assert broken.returncode == 1
    assert json.loads(broken.stdout) == {
        "success": False,
        "error": "Python syntax error at line 1: '(' was never closed",
    }


@pytest.mark.parametrize(("name", "value"), [("WORKERS", "two"), ("QOP_MAX_QUBITS", "lots")])
def test_qop_serve_with_a_bad_setting_stops_at_start_with_one_line_naming_it(
    name: str, value: str
) -> None:
    result = qop("serve", "reconcile", "--port", "1", env={**os.environ, name: value})
    assert (result.returncode, result.stdout) == (2, "")
    [line] = result.stderr.splitlines()
    assert line.startswith(f"qop: {name}={value!r} is not a whole number: it accepts 0, 1, 2")
