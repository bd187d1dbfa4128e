"""`kubectl qiskit` run by the real kubectl, which finds the plugin on PATH as
kubectl-qiskit, against a real kube-apiserver with the whole stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from qiskit_operator.circuits.serialization import to_qpy
from qiskit_operator.local.devcluster import DevCluster
from qiskit_operator.local.stack import Stack
from tests.conftest import ROOT, bell_circuit, example
from tests.e2e.test_kubectl_apply import wait_phase

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
BELL_QASM = ROOT / "tests" / "e2e" / "bell.qasm"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class Kubectl:
    """The real kubectl, with this environment's kubectl-qiskit first on PATH."""

    binary: Path
    kubeconfig: Path

    def __call__(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        scripts = str(Path(sys.executable).parent)  # where pip put kubectl-qiskit
        env = {
            **os.environ,
            "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
            "KUBECONFIG": str(self.kubeconfig),
        }
        return subprocess.run(
            [str(self.binary), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def kubectl(stack: Stack) -> Kubectl:
    return Kubectl(stack.cluster.binaries.kubectl, stack.cluster.kubeconfig)


def test_kubectl_lists_the_plugin_it_found_on_path(kubectl: Kubectl) -> None:
    listed = kubectl("plugin", "list")
    assert "kubectl-qiskit" in listed.stdout, listed.stderr


def test_run_wait_applies_a_qasm_file_and_shows_its_histogram(kubectl: Kubectl) -> None:
    ran = kubectl(
        "qiskit", "run", str(BELL_QASM), "--shots", "2000", "--name", "plug-bell", "--wait"
    )
    assert ran.returncode == 0, ran.stderr + ran.stdout
    lines = ran.stdout.splitlines()
    assert any(line.split()[:2] == ["plug-bell", "Completed"] for line in lines)
    assert "default/plug-bell: 2000 shots" in ran.stdout
    bars = [line.split() for line in lines if "│" in line]
    assert sorted(bar[0] for bar in bars) == ["00", "11"]


def test_run_wait_and_kubectl_get_show_the_jobs_progress(stack: Stack, kubectl: Kubectl) -> None:
    ran = kubectl("qiskit", "run", str(BELL_QASM), "--name", "plug-progress", "--wait")
    assert ran.returncode == 0, ran.stderr
    completed = [line for line in ran.stdout.splitlines() if " Completed " in line]
    assert completed and "[1/1 circuits]" in completed[0]
    manifest = example("ry-sweep.yaml")
    manifest["metadata"]["name"] = "progress-sweep"
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    wait_phase(stack, "progress-sweep", "Completed")
    header, row = stack.kubectl("get", "qjob", "progress-sweep").stdout.splitlines()
    assert header.split()[1:3] == ["PHASE", "PROGRESS"]
    assert row.split()[1:5] == ["Completed", "5/5", "parameter", "sets"]


def test_run_takes_a_qpy_file(kubectl: Kubectl, tmp_path: Path) -> None:
    circuit = tmp_path / "bell.qpy"
    circuit.write_bytes(to_qpy(bell_circuit()))
    ran = kubectl("qiskit", "run", str(circuit), "--name", "plug-qpy", "--wait", "-o", "json")
    assert ran.returncode == 0, ran.stderr
    job = json.loads(ran.stdout)
    assert job["spec"]["circuit"]["format"] == "qpy"
    assert set(job["status"]["results"]["counts"]) == {"00", "11"}
    assert "Completed" in ran.stderr  # the phases, kept off stdout's JSON


def test_results_as_json_and_yaml_hold_every_outcome(kubectl: Kubectl, tmp_path: Path) -> None:
    circuit = tmp_path / "ghz.py"
    circuit.write_text(
        "from qiskit import QuantumCircuit\n"
        "qc = QuantumCircuit(3)\nqc.h(0)\nqc.cx(0, 1)\nqc.cx(1, 2)\nqc.measure_all()\n"
    )
    made = kubectl("qiskit", "run", str(circuit), "-o", "json")
    assert made.returncode == 0, made.stderr
    name = json.loads(made.stdout)["metadata"]["name"]
    assert name.startswith("ghz-")
    waited = kubectl("wait", "--for=jsonpath={.status.phase}=Completed", f"qjob/{name}")
    assert waited.returncode == 0, waited.stderr
    as_json = json.loads(kubectl("qiskit", "results", name, "-o", "json").stdout)
    as_yaml = yaml.safe_load(kubectl("qiskit", "results", name, "-o", "yaml").stdout)
    assert as_json == as_yaml
    assert as_json["phase"] == "Completed" and as_json["registers"] == ["meas"]
    counts = as_json["points"][0]["counts"]
    assert set(counts) == {"000", "111"} and sum(counts.values()) == 1024


def test_results_of_an_estimator_job_are_a_table_and_a_picture(
    stack: Stack, kubectl: Kubectl, tmp_path: Path
) -> None:
    stack.kubectl("apply", "-f", str(ROOT / "examples" / "bell-estimator.yaml"))
    wait_phase(stack, "bell-estimator", "Completed")
    picture = tmp_path / "bell-estimator.png"
    shown = kubectl("qiskit", "results", "bell-estimator", "--plot", str(picture))
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: float(line.split()[1]) for line in shown.stdout.splitlines()[2:]}
    assert rows == pytest.approx({"ZZ": 1.0, "XX": 1.0, "ZI": 0.0}, abs=1e-9)
    assert picture.read_bytes().startswith(PNG_MAGIC)


def test_a_sweeps_results_plot_against_its_parameter(
    stack: Stack, kubectl: Kubectl, tmp_path: Path
) -> None:
    manifest = example("ry-sweep.yaml")
    manifest["metadata"]["name"] = "plug-sweep"
    manifest["spec"]["output"] = {"type": "configmap", "format": "json"}
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    wait_phase(stack, "plug-sweep", "Completed")
    picture = tmp_path / "sweep.png"
    shown = kubectl("qiskit", "results", "plug-sweep", "--plot", str(picture))
    assert shown.returncode == 0, shown.stderr
    assert "sweep of 5 parameter sets" in shown.stdout
    assert picture.read_bytes().startswith(PNG_MAGIC)


def test_results_of_a_failed_job_exit_1_with_its_message(stack: Stack, kubectl: Kubectl) -> None:
    stack.kubectl("apply", "-f", str(ROOT / "examples" / "broken.yaml"))
    wait_phase(stack, "broken", "Failed")
    shown = kubectl("qiskit", "results", "broken")
    assert shown.returncode == 1
    assert "is Failed: " in shown.stderr and "syntax error" in shown.stderr
    assert "Traceback" not in shown.stderr


def test_an_unknown_job_or_command_line_exits_as_kubectl_does(kubectl: Kubectl) -> None:
    missing = kubectl("qiskit", "results", "no-such-job")
    assert missing.returncode == 1 and '"no-such-job" not found' in missing.stderr
    wrong = kubectl("qiskit", "results")
    assert wrong.returncode == 2 and "usage:" in wrong.stderr
    unreadable = kubectl("qiskit", "run", "/nonexistent/bell.qasm")
    assert unreadable.returncode == 1 and "/nonexistent/bell.qasm" in unreadable.stderr


def test_logs_shows_each_functions_lines_for_the_job(stack: Stack, kubectl: Kubectl) -> None:
    ran = kubectl("qiskit", "run", str(BELL_QASM), "--name", "plug-logs", "--wait")
    assert ran.returncode == 0, ran.stderr
    logs = kubectl("qiskit", "logs", "plug-logs", "--log-dir", str(stack.workdir))
    assert logs.returncode == 0, logs.stderr
    sources = {line.split(":", 1)[0] for line in logs.stdout.splitlines()}
    assert {"validate", "execute", "reconcile"} <= sources, logs.stdout[-2000:]


@pytest.fixture
def team_namespace(stack: Stack, tmp_path: Path) -> Iterator[Path]:
    """Namespace team-p and a kubeconfig with a second context, `team`, set to it."""
    stack.kubectl("create", "namespace", "team-p")
    config = yaml.safe_load(stack.cluster.kubeconfig.read_text())
    base = config["contexts"][0]
    config["contexts"].append(
        {"name": "team", "context": {**base["context"], "namespace": "team-p"}}
    )
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    try:
        yield path
    finally:
        stack.kubectl("delete", "namespace", "team-p", "--wait=false", check=False)


def test_namespace_and_context_choose_where_the_job_goes(
    stack: Stack, kubectl: Kubectl, team_namespace: Path
) -> None:
    in_context = Kubectl(kubectl.binary, team_namespace)
    made = in_context("qiskit", "--context", "team", "run", str(BELL_QASM), "--name", "ctx-bell")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "qiskitjob.quantum.io/ctx-bell created"
    found = stack.kubectl("get", "qjob", "ctx-bell", "-n", "team-p", "-o", "name")
    assert found.stdout.strip() == "qiskitjob.quantum.io/ctx-bell"
    named = kubectl("qiskit", "run", str(BELL_QASM), "--name", "ns-bell", "-n", "team-p")
    assert named.returncode == 0, named.stderr
    assert stack.kubectl("get", "qjob", "ns-bell", "-n", "team-p").returncode == 0


def test_cancel_sets_spec_cancel_and_keeps_the_job_and_a_missing_job_exits_1(
    quiet_cluster: DevCluster,
) -> None:
    kubectl = Kubectl(quiet_cluster.binaries.kubectl, quiet_cluster.kubeconfig)
    assert kubectl("qiskit", "run", str(BELL_QASM), "--name", "to-cancel").returncode == 0
    cancelled = kubectl("qiskit", "cancel", "to-cancel")
    assert cancelled.returncode == 0 and "cancelled (spec.cancel: true" in cancelled.stdout
    kept = kubectl("get", "qjob", "to-cancel", "-o", "jsonpath={.spec.cancel}")
    assert kept.returncode == 0 and kept.stdout == "true"
    again = kubectl("qiskit", "cancel", "never-made")
    assert again.returncode == 1 and "not found" in again.stderr
