"""Budgets and cancel through the whole stack on a real API server: `kubectl apply` of
fifty jobs at once against a QiskitBudget that fits twenty, and a long simulation
cancelled with spec.cancel while it runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import yaml

from qiskit_operator.local.stack import Stack

NS = "budget-e2e"
PRICED = "a-priced-aer"  # sorts before the examples' free aer-simulator: its price wins
JOBS = 50
FITS = 20
SHOTS = 100
PER_SHOT = 0.001  # 0.1 USD a job
BELL = "\n".join(
    ["OPENQASM 2.0;", 'include "qelib1.inc";', "qreg q[2];", "creg c[2];", "h q[0];",
     "cx q[0], q[1];", "measure q -> c;"]
)  # fmt: skip
LONG = (
    "from qiskit.circuit.library import quantum_volume\n"
    "qc = quantum_volume(24, depth=40, seed=3)\nqc.measure_all()\n"
)
DEADLINE = 300.0


def manifest(name: str, code: str, **execution: object) -> dict[str, object]:
    return {
        "apiVersion": "quantum.io/v1",
        "kind": "QiskitJob",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "circuit": {"source": "inline", "code": code},
            "execution": {"shots": SHOTS, **execution},
            "budget": {"name": "team"},
        },
    }


@pytest.fixture(scope="module")
def priced(stack: Stack) -> Iterator[Stack]:
    stack.kubectl("create", "namespace", NS, check=False)
    backend = {
        "apiVersion": "quantum.io/v1",
        "kind": "QiskitBackend",
        "metadata": {"name": PRICED},
        "spec": {
            "family": "aer",
            "device": "aer_simulator",
            "simulator": True,
            "qubits": 32,
            "primitives": ["sampler", "estimator"],
            "pricing": {"perShot": PER_SHOT},
        },
    }
    budget = {
        "apiVersion": "quantum.io/v1",
        "kind": "QiskitBudget",
        "metadata": {"name": "team", "namespace": NS},
        "spec": {"limit": FITS * SHOTS * PER_SHOT, "period": "month"},
    }
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([backend, budget]))
    try:
        yield stack
    finally:  # other tests' jobs run free again
        stack.kubectl("delete", "qbackend", PRICED, check=False)


def phases(stack: Stack) -> dict[str, str]:
    listing = json.loads(stack.kubectl("-n", NS, "get", "qjob", "-o", "json").stdout)
    return {
        item["metadata"]["name"]: item.get("status", {}).get("phase", "")
        for item in listing["items"]
    }


def budget(stack: Stack) -> dict[str, object]:
    found = json.loads(stack.kubectl("-n", NS, "get", "qbudget", "team", "-o", "json").stdout)
    status: dict[str, object] = found["status"]
    return status


def test_fifty_jobs_applied_at_once_against_a_budget_that_fits_twenty_run_twenty(
    priced: Stack,
) -> None:
    jobs = [manifest(f"race-{i:02d}", BELL) for i in range(JOBS)]
    priced.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(jobs))
    deadline = time.monotonic() + DEADLINE
    seen = phases(priced)
    while not (len(seen) == JOBS and all(p in ("Completed", "Failed") for p in seen.values())):
        assert time.monotonic() < deadline, f"jobs not finished: {seen}\n{priced.logs()}"
        time.sleep(1)
        seen = phases(priced)
    done = sorted(n for n, p in seen.items() if p == "Completed")
    assert len(done) == FITS, seen
    refused = next(n for n, p in seen.items() if p == "Failed")
    job = json.loads(priced.kubectl("-n", NS, "get", "qjob", refused, "-o", "json").stdout)
    message = job["status"]["message"]
    assert f"QiskitBudget {NS}/team has 0.00 USD of its 2.00 USD left this month" in message
    assert f"kubectl -n {NS} edit qbudget team" in message
    assert "results" not in job["status"]
    status = budget(priced)
    assert (status["spent"], status["reserved"], status["remaining"]) == (2.0, 0.0, 0.0)
    one = json.loads(priced.kubectl("-n", NS, "get", "qjob", done[0], "-o", "json").stdout)
    assert one["status"]["estimatedCost"] == {"amount": 0.1, "currency": "USD"}
    assert one["status"]["actualCost"] == {"amount": 0.1, "currency": "USD"}


def test_spec_cancel_stops_a_running_simulation_and_releases_its_reservation(
    priced: Stack,
) -> None:
    priced.kubectl("-n", NS, "patch", "qbudget", "team", "--type=merge", "-p",
                   json.dumps({"spec": {"limit": 3.0}}))  # fmt: skip
    long = manifest("long", LONG, shots=10, maxExecutionTime="10m", optimizationLevel=0)
    long["spec"]["backend"] = {"method": "statevector"}  # type: ignore[index]
    priced.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(long))
    wait_phase_in(priced, "long", "Scheduled")
    deadline = time.monotonic() + DEADLINE
    while budget(priced)["reserved"] != 0.01:
        assert time.monotonic() < deadline, f"no reservation: {budget(priced)}"
        time.sleep(0.2)
    priced.kubectl("-n", NS, "patch", "qjob", "long", "--type=merge", "-p",
                   json.dumps({"spec": {"cancel": True}}))  # fmt: skip
    wait_phase_in(priced, "long", "Cancelled")
    job = json.loads(priced.kubectl("-n", NS, "get", "qjob", "long", "-o", "json").stdout)
    assert "spec.cancel is true" in job["status"]["message"]
    status = budget(priced)
    assert (status["spent"], status["reserved"]) == (2.0, 0.0)
    while "long cancelled: its simulation was stopped" not in priced.logs():
        assert time.monotonic() < deadline, f"execute never stopped it:\n{priced.logs()}"
        time.sleep(0.2)


def wait_phase_in(stack: Stack, name: str, phase: str) -> None:
    result = stack.kubectl(
        "-n", NS, "wait", f"--for=jsonpath={{.status.phase}}={phase}", f"qjob/{name}",
        f"--timeout={int(DEADLINE)}s", check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(f"{name} did not reach {phase}: {result.stderr}\n{stack.logs()}")
