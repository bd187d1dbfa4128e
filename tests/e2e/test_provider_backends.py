"""Jobs on the provider families' local modes, applied with kubectl to a real API
server: a fake IBM device (its noise in the counts) and Braket's local simulator."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from qiskit_operator.local.stack import Stack
from tests.conftest import ROOT, example
from tests.e2e.test_kubectl_apply import wait_phase

# A provider family's first job imports its SDK (Braket's: a worker that first runs
# one shot), seconds alone and minutes on a loaded machine.
pytestmark = pytest.mark.timeout(400)


def wait_long(stack: Stack, name: str, phase: str, seconds: float = 300) -> None:
    """`wait_phase` in turns of 90 s (kubectl's calls are cut at 120 s) up to `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            wait_phase(stack, name, phase, timeout=90)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def test_a_job_on_a_fake_ibm_device_completes_with_the_devices_noise(stack: Stack) -> None:
    stack.kubectl("apply", "-f", str(ROOT / "examples" / "ibm-fake-device.yaml"))
    wait_long(stack, "bell-fake-manila", "Completed")
    job = json.loads(stack.kubectl("get", "qjob", "bell-fake-manila", "-o", "json").stdout)
    counts = job["status"]["results"]["counts"]
    assert sum(counts.values()) == 4000
    assert counts.get("01", 0) + counts.get("10", 0) > 0
    assert job["status"]["selectedBackend"] == "fake_manila"


def test_a_job_on_braket_s_local_simulator_completes_with_bell_counts(stack: Stack) -> None:
    stack.kubectl("apply", "-f", str(ROOT / "examples" / "braket-local.yaml"))
    wait_long(stack, "bell-braket", "Completed")
    job = json.loads(stack.kubectl("get", "qjob", "bell-braket", "-o", "json").stdout)
    assert set(job["status"]["results"]["counts"]) == {"00", "11"}


def test_a_job_asking_more_than_its_backend_offers_is_rejected_with_the_reason(
    stack: Stack,
) -> None:
    manifest = example("braket-local.yaml")
    manifest["metadata"]["name"] = "braket-sweep"
    manifest["spec"]["execution"]["parameterValues"] = [[0.1]]
    manifest["spec"]["circuit"]["code"] = (
        'OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float theta;\nqubit[1] q;\n'
        "bit[1] c;\nrx(theta) q[0];\nc = measure q;\n"
    )
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    wait_long(stack, "braket-sweep", "Failed")
    described = stack.kubectl("describe", "qjob", "braket-sweep").stdout
    assert "braket_local (braket) runs no parameter sweeps" in described
    assert "ExceedsBackendCapabilities" in described
