"""Provider credentials from a Secret: read by execute alone, a missing or wrong one
fails the job naming the Secret and key to fix, and the token shows nowhere."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from qiskit_operator.hardware.credentials import MemorySecrets
from qiskit_operator.local.pipeline import LocalPipeline
from qiskit_operator.models import Phase, QiskitJob
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore
from tests.conftest import example

TOKEN = "fake-token-7d41c9e0b2a54f1e"  # what must never show
SECRETS = MemorySecrets(
    {
        ("default", "ibm-account"): {"token": TOKEN},
        ("default", "stale-account"): {"token": "expired-4b1d"},
        ("default", "no-token"): {"apikey": "x"},
    }
)


@pytest.fixture(scope="module")
def store() -> MemoryStatusStore:
    return MemoryStatusStore()


@pytest.fixture(scope="module")
def pipeline(store: MemoryStatusStore) -> Iterator[LocalPipeline]:
    with LocalPipeline(Settings.from_env(), store=store, secrets=SECRETS) as running:
        yield running


def job_with(name: str, secret: str | None) -> dict[str, object]:
    manifest = copy.deepcopy(example("hardware-job.yaml"))
    manifest["metadata"]["name"] = name
    if secret is not None:
        manifest["spec"]["credentials"] = {"secretRef": {"name": secret}}
    return manifest


def failed_message(job: QiskitJob) -> str:
    assert job.status is not None and job.status.phase is Phase.FAILED, job.status
    return job.status.message or ""


def test_a_job_without_its_namespaces_default_secret_fails_saying_how_to_create_it(
    pipeline: LocalPipeline,
) -> None:
    message = failed_message(pipeline.run(job_with("no-secret", None)))
    assert "Secret default/qiskit-credentials does not exist" in message
    assert "kubectl -n default create secret generic qiskit-credentials" in message


def test_a_secret_without_the_token_key_fails_naming_the_key(pipeline: LocalPipeline) -> None:
    message = failed_message(pipeline.run(job_with("no-token", "no-token")))
    assert "Secret default/no-token has no key 'token' (keys: apikey)" in message


def test_a_token_the_provider_refuses_fails_naming_the_secret_and_key_to_fix(
    pipeline: LocalPipeline,
) -> None:
    message = failed_message(pipeline.run(job_with("stale", "stale-account")))
    assert message == (
        "the provider refused the token (401 Unauthorized): "
        "fix key 'token' of Secret default/stale-account"
    )
    assert "expired-4b1d" not in message


def test_the_token_appears_in_no_status_event_log_or_record(
    pipeline: LocalPipeline,
    store: MemoryStatusStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        job = pipeline.run(job_with("with-token", "ibm-account"))
    assert job.status is not None and job.status.phase is Phase.COMPLETED, job.status.message
    assert TOKEN not in job.model_dump_json()
    assert all(TOKEN not in event.message for event in store.events)
    assert TOKEN not in caplog.text
    assert "with-token" in caplog.text  # the logs were captured, and name the job
    results = Path(pipeline.settings.results_dir)
    written = [p for p in results.rglob("*") if p.is_file() and ".fake-provider" not in p.parts]
    assert written and all(TOKEN not in p.read_text(errors="replace") for p in written)
