"""`kubectl apply -f bell.yaml` to Completed, on a real API server."""

from __future__ import annotations

import json
import time

import yaml

from qiskit_operator.local.stack import Stack
from tests.conftest import ROOT, example


def wait_phase(stack: Stack, name: str, phase: str, timeout: int = 90) -> None:
    result = stack.kubectl(
        "wait",
        f"--for=jsonpath={{.status.phase}}={phase}",
        f"qjob/{name}",
        f"--timeout={timeout}s",
        check=False,
    )
    if result.returncode != 0:
        status = stack.kubectl("get", "qjob", name, "-o", "jsonpath={.status}", check=False)
        raise AssertionError(
            f"{name} did not reach {phase}: {result.stderr}\n"
            f"status: {status.stdout}\n{stack.logs()}"
        )


def test_bell_applied_with_kubectl_reaches_completed_with_counts(stack: Stack) -> None:
    stack.kubectl("apply", "-f", str(ROOT / "examples" / "bell.yaml"))
    wait_phase(stack, "bell", "Completed")
    job = json.loads(stack.kubectl("get", "qjob", "bell", "-o", "json").stdout)
    counts = job["status"]["results"]["counts"]
    assert set(counts) == {"00", "11"} and sum(counts.values()) == 1024
    assert job["status"]["observedGeneration"] == job["metadata"]["generation"]
    conditions = {c["type"]: c["status"] for c in job["status"]["conditions"]}
    assert conditions == {"Validated": "True", "Completed": "True"}


def test_kubectl_get_shows_the_printer_columns(stack: Stack) -> None:
    stack.kubectl("apply", "-f", str(ROOT / "examples" / "ghz.yaml"))
    wait_phase(stack, "ghz", "Completed")
    table = stack.kubectl("get", "qjob", "ghz").stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "PROGRESS", "BACKEND", "QUBITS", "AGE"]
    # PROGRESS is "1/1 circuits": two words in the split row.
    assert table[1].split()[:6] == ["ghz", "Completed", "1/1", "circuits", "aer_simulator", "5"]


def test_the_result_configmap_is_owned_by_the_job_and_goes_with_it(stack: Stack) -> None:
    manifest = example("ry-sweep.yaml")
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    wait_phase(stack, "ry-sweep", "Completed")
    configmap = json.loads(
        stack.kubectl("get", "configmap", "ry-sweep-results", "-o", "json").stdout
    )
    owner = configmap["metadata"]["ownerReferences"][0]
    job = json.loads(stack.kubectl("get", "qjob", "ry-sweep", "-o", "json").stdout)
    assert (owner["kind"], owner["uid"]) == ("QiskitJob", job["metadata"]["uid"])
    assert configmap["data"]["result.csv"].startswith("binding,parameter_0,outcome,count")
    assert job["status"]["results"]["location"] == "configmap://default/ry-sweep-results"

    stack.kubectl("delete", "qjob", "ry-sweep")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        gone = stack.kubectl("get", "configmap", "ry-sweep-results", check=False)
        if gone.returncode != 0 and "NotFound" in gone.stderr:
            return
        time.sleep(0.5)
    raise AssertionError("the garbage collector did not delete the result ConfigMap")


def test_a_bad_job_ends_failed_with_its_message_in_kubectl_describe(stack: Stack) -> None:
    stack.kubectl("apply", "-f", str(ROOT / "examples" / "broken.yaml"))
    wait_phase(stack, "broken", "Failed")
    described = stack.kubectl("describe", "qjob", "broken").stdout
    assert "Python syntax error at line 4" in described
    assert "SyntaxError" in described  # the Warning event's reason


def test_a_configmap_circuit_source_is_read_with_validates_own_token(stack: Stack) -> None:
    stack.kubectl(
        "create",
        "configmap",
        "circuits",
        "--from-file",
        f"bell.qasm={ROOT / 'tests' / 'e2e' / 'bell.qasm'}",
    )
    manifest = example("bell.yaml")
    manifest["metadata"]["name"] = "from-configmap"
    manifest["spec"]["circuit"] = {
        "source": "configmap",
        "configMapRef": {"name": "circuits", "key": "bell.qasm"},
    }
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    wait_phase(stack, "from-configmap", "Completed")
    missing = dict(manifest, metadata={"name": "missing-key"})
    missing["spec"] = dict(
        manifest["spec"],
        circuit={"source": "configmap", "configMapRef": {"name": "circuits", "key": "nope.qasm"}},
    )
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(missing))
    wait_phase(stack, "missing-key", "Failed")
    message = stack.kubectl("get", "qjob", "missing-key", "-o", "jsonpath={.status.message}").stdout
    assert "has no key 'nope.qasm'" in message and "bell.qasm" in message


def test_changing_the_spec_runs_the_new_generation(stack: Stack) -> None:
    manifest = example("bell.yaml")
    manifest["metadata"]["name"] = "regenerated"
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    wait_phase(stack, "regenerated", "Completed")
    manifest["spec"]["execution"]["shots"] = 300
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = json.loads(stack.kubectl("get", "qjob", "regenerated", "-o", "json").stdout)
        status = job["status"]
        if status.get("observedGeneration") == 2 and status.get("phase") == "Completed":
            assert sum(status["results"]["counts"].values()) == 300
            return
        time.sleep(0.3)
    raise AssertionError(f"generation 2 did not complete: {status}")
