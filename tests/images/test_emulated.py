"""The arm64 images under emulation (Debian's qemu-user-static, binfmt F flag): Bell
through validate and execute, pulled by the arm64 manifest's digest from the registry.

qemu-user passes Landlock's and seccomp's system calls to no kernel filter of its own,
so the sandbox cannot confine a child there: QOP_REQUIRE_ISOLATION is off for these
runs and Bell is OpenQASM, which validate reads without running a program.
"""

from __future__ import annotations

import pytest

from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.local.pipeline import admit
from tests.conftest import BELL_QASM2, job_manifest
from tests.images.engine import Engine
from tests.images.test_running import post_event

EMULATED = {"QOP_REQUIRE_ISOLATION": "false", "WORKERS": "1", "QOP_SANDBOX_WARM": "0"}


@pytest.mark.timeout(900)
def test_bell_goes_through_validate_and_execute_on_arm64_under_emulation(
    engine: Engine,
) -> None:
    added = resource_event(
        admit(job_manifest(name="bell-on-arm64", code=BELL_QASM2, seed=11)), types.APISERVER_ADD
    )
    validate = engine.for_platform("validate", "linux/arm64")
    with engine.serving(validate, "validate", env=EMULATED, ready_timeout=400) as base:
        validated = post_event(base, added)
    assert validated.type == types.JOB_VALIDATED
    execute = engine.for_platform("execute", "linux/arm64")
    with engine.serving(execute, "execute", env=EMULATED, ready_timeout=400) as base:
        completed = post_event(base, validated)
    assert completed.type == types.JOB_COMPLETED
    payload = payloads.decode(completed.type, completed.data)
    assert isinstance(payload, payloads.JobCompleted)
    assert payload.counts is not None and set(payload.counts) == {"00", "11"}
    result = engine.run(
        execute, "-c", "import platform; print(platform.machine())", flags=("--entrypoint=python",)
    )
    assert result.stdout.strip() == "aarch64", result.stderr
