"""Finished jobs go when their time to live runs out, with their result ConfigMap and
result file, on the real API server with each function under its own ServiceAccount:
reconcile deletes the job, the garbage collector its ConfigMap, execute its file."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from qiskit_operator.local.stack import Stack
from tests.conftest import example
from tests.e2e.test_kubectl_apply import wait_phase
from tests.e2e.test_resync import resynced


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.2)


def apply_job(stack: Stack, name: str, **spec: Any) -> None:
    manifest = example("bell.yaml")
    manifest["metadata"]["name"] = name
    manifest["spec"]["output"] = {"type": "configmap"}
    manifest["spec"].update(spec)
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))


def job_of(stack: Stack, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(stack.kubectl("get", "qjob", name, "-o", "json").stdout)
    return loaded


def exists(stack: Stack, kind: str, name: str) -> bool:
    got = stack.kubectl("get", kind, name, check=False)
    if got.returncode != 0:
        assert "NotFound" in got.stderr, got.stderr
    return got.returncode == 0


def result_files(stack: Stack, job: dict[str, Any]) -> list[str]:
    """The files on the results volume written for `job` (its uid), whatever the generation."""
    meta = job["metadata"]
    folder = stack.workdir / "results" / meta["namespace"]
    prefix = f"{meta['name']}-{meta['uid'][:8]}-g"
    return sorted(p.name for p in folder.glob(prefix + "*")) if folder.is_dir() else []


def completed_with_results(stack: Stack, name: str) -> dict[str, Any]:
    wait_phase(stack, name, "Completed")
    job = job_of(stack, name)
    assert exists(stack, "configmap", f"{name}-results")
    assert result_files(stack, job) == [f"{name}-{job['metadata']['uid'][:8]}-g1.json"]
    return job


def seconds_since_it_finished(stack: Stack, name: str) -> float:
    finished = job_of(stack, name)["status"]["completionTime"]
    return (datetime.now(UTC) - datetime.fromisoformat(finished)).total_seconds()


@pytest.mark.timeout(240)
def test_a_job_with_a_ttl_of_zero_is_deleted_with_its_configmap_and_file_once_it_finishes(
    stack: Stack,
) -> None:
    apply_job(stack, "ttl-zero", ttlSecondsAfterFinished=0)
    # Its final status write comes back as an update event, and reconcile deletes it
    # then: no ping is needed. Completed is seen on the way, or the job is gone already.
    wait_until(lambda: not exists(stack, "qjob", "ttl-zero"), "ttl-zero deleted")
    completed = stack.kubectl(
        "get", "events", "--field-selector", "involvedObject.name=ttl-zero,reason=Completed",
        "-o", "name",
    ).stdout.split()  # fmt: skip
    assert completed, "ttl-zero was deleted without having completed"
    wait_until(lambda: not exists(stack, "configmap", "ttl-zero-results"), "its ConfigMap gone")
    execute_log = stack.functions["execute"].log
    wait_until(
        lambda: "default/ttl-zero deleted: removed 1 result files" in execute_log.read_text(),
        "its result file removed by execute",
    )
    assert not any((stack.workdir / "results" / "default").glob("ttl-zero-*"))


@pytest.mark.timeout(240)
def test_the_ping_deletes_a_job_whose_ttl_ran_out_and_keeps_the_others(stack: Stack) -> None:
    apply_job(stack, "ttl-short", ttlSecondsAfterFinished=2)
    apply_job(stack, "ttl-long", ttlSecondsAfterFinished=3600)
    apply_job(stack, "ttl-none")
    short = completed_with_results(stack, "ttl-short")
    completed_with_results(stack, "ttl-long")
    kept = completed_with_results(stack, "ttl-none")
    # completionTime has whole seconds: a second to spare.
    wait_until(lambda: seconds_since_it_finished(stack, "ttl-short") > 3, "ttl-short's TTL over")

    resynced(stack)  # answered: every deletion this ping makes is made

    assert not exists(stack, "qjob", "ttl-short")
    assert exists(stack, "qjob", "ttl-long")
    assert exists(stack, "qjob", "ttl-none")
    wait_until(lambda: not exists(stack, "configmap", "ttl-short-results"), "its ConfigMap gone")
    wait_until(lambda: result_files(stack, short) == [], "its result file removed by execute")
    assert exists(stack, "configmap", "ttl-none-results")
    assert result_files(stack, kept) != []
