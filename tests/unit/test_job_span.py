"""The job's own span, the root of its trace: reconcile exports it once per generation,
on the write that moves the job into a final phase, from the status' startTime."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qiskit_operator import tracing
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.local.pipeline import admit
from qiskit_operator.models import QiskitJob
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from tests.conftest import job_manifest
from tests.fake_apiserver import FakeCluster

UID = "6c1f5e2a-0000-4000-8000-000000000002"
TRACE = "6c1f5e2a000040008000000000000002"
NOW = datetime(2026, 11, 27, 5, 0, 7, tzinfo=UTC)


Spans = Callable[[], list[dict[str, Any]]]


@contextmanager
def console(capsys: pytest.CaptureFixture[str]) -> Iterator[Spans]:
    """Spans exported to the console exporter (one JSON line each on the test's stderr,
    so it is set up in the test's body); yields what reads the job spans so far."""

    def exported() -> list[dict[str, Any]]:
        tracing.flush()
        lines = capsys.readouterr().err.splitlines()
        spans = [json.loads(line) for line in lines if line.startswith("{")]
        return [span for span in spans if span["name"] == "job default/bell"]

    assert tracing.configure({"OTEL_TRACES_EXPORTER": "console"})
    try:
        yield exported
    finally:
        tracing.configure({})


def job(generation: int = 1) -> dict[str, Any]:
    obj = admit(job_manifest())
    obj["metadata"].update(uid=UID, generation=generation)
    obj["spec"]["execution"]["shots"] = 1000 + generation  # each generation, its own spec
    return obj


def rejected(generation: int = 1) -> Envelope:
    ref = payloads.JobRef(namespace="default", name="bell", uid=UID, generation=generation)
    no = payloads.JobRejected(job=ref, reason="SyntaxError", message="line 4: '(' never closed")
    return Envelope(type=types.JOB_REJECTED, source="/tests", data=payloads.encode(no))


def reconciler(tmp_path: Path) -> Reconciler:
    store = FakeCluster()
    store.add(QiskitJob.model_validate(job()))
    return Reconciler(store, ResultStore(tmp_path), clock=lambda: NOW)


def changed(reconcile: Reconciler, obj: dict[str, Any]) -> None:
    store = reconcile.writer
    assert isinstance(store, FakeCluster)
    assert store.add(obj)["metadata"]["generation"] == obj["metadata"]["generation"]


def test_the_final_phase_exports_the_jobs_span_once_however_often_it_comes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reconcile = reconciler(tmp_path)
    with console(capsys) as job_spans:
        reconcile.handle(resource_event(job(), types.APISERVER_ADD))
        first = reconcile.handle(rejected())
        again = reconcile.handle(rejected())
        (span,) = job_spans()
    assert first is not None and first.type == types.JOB_FINISHED
    assert again is None
    assert span["context"]["trace_id"] == f"0x{TRACE}"
    assert span["context"]["span_id"] == f"0x{tracing.job_span_id(TRACE, 1)}"
    assert span["parent_id"] is None
    assert datetime.fromisoformat(span["start_time"]) == NOW
    assert span["status"]["status_code"] == "ERROR"
    assert span["status"]["description"] == "line 4: '(' never closed"
    assert span["attributes"]["qop.phase"] == "Failed"
    assert span["attributes"]["qop.job.uid"] == UID


def test_a_new_generation_ends_in_a_span_of_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reconcile = reconciler(tmp_path)
    with console(capsys) as job_spans:
        reconcile.handle(resource_event(job(1), types.APISERVER_ADD))
        reconcile.handle(rejected(1))
        changed(reconcile, job(2))  # the spec changed: the API server's generation is 2
        reconcile.handle(resource_event(job(2), types.APISERVER_UPDATE))
        reconcile.handle(rejected(2))
        found = job_spans()
    assert [span["attributes"]["qop.job.generation"] for span in found] == [1, 2]
    ids = [span["context"]["span_id"] for span in found]
    assert ids == [f"0x{tracing.job_span_id(TRACE, g)}" for g in (1, 2)]
    assert len(set(ids)) == 2


def test_without_an_exporter_the_final_phase_still_replies_job_finished(tmp_path: Path) -> None:
    tracing.configure({})
    reconcile = reconciler(tmp_path)
    reconcile.handle(resource_event(job(), types.APISERVER_ADD))
    finished = reconcile.handle(rejected())
    assert finished is not None and finished.type == types.JOB_FINISHED


def test_a_job_the_resync_fails_as_stalled_ends_its_span_with_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reconcile = reconciler(tmp_path)
    reconcile.handle(resource_event(job(), types.APISERVER_ADD))
    reconcile.clock = lambda: NOW + timedelta(hours=1)
    with console(capsys) as job_spans:
        (stuck,) = reconcile.resync()
        (span,) = job_spans()
    assert stuck.key == "default/bell"
    assert span["status"]["status_code"] == "ERROR"
    assert span["status"]["description"].startswith("Stalled in Validating")
    assert span["attributes"]["qop.phase"] == "Failed"
    assert datetime.fromisoformat(span["start_time"]) == NOW  # when the run started
