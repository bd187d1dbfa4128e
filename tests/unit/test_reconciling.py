"""Reconcile's shell around the transitions: which events it answers and with what, the
Kubernetes Events it records on each path, the line it logs for each move, and where
it publishes results."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qiskit_operator.errors import UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.local.stack import ping_event
from qiskit_operator.models import Phase
from qiskit_operator.reconciling import SOURCE, Reconciler, backoff
from qiskit_operator.results import ResultStore
from qiskit_operator.status.writer import RecordedEvent
from tests import replies
from tests.conftest import Counted, job_manifest
from tests.fake_apiserver import FakeAPIServer, FakeCluster

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def rig(tmp_path: Path, **output: str) -> tuple[FakeCluster, Reconciler, payloads.JobRef]:
    # Created at the reconciler's NOW, not the wall clock's: a resync judges a job's age.
    cluster = FakeCluster(FakeAPIServer(clock=lambda: NOW))
    manifest = job_manifest()
    if output:
        manifest["spec"]["output"] = output
    obj = cluster.add(manifest)
    reconcile = Reconciler(cluster, ResultStore(tmp_path), clock=lambda: NOW, max_retries=1)
    reconcile.handle(resource_event(obj, types.APISERVER_ADD))
    return cluster, reconcile, replies.ref_of(obj)


def events(cluster: FakeCluster) -> list[tuple[str, str, str]]:
    return [(e.type, e.reason, e.message) for e in cluster.events]


def test_each_move_records_its_event_and_the_final_one_replies_job_finished(
    tmp_path: Path,
) -> None:
    cluster, reconcile, ref = rig(tmp_path)
    assert reconcile.handle(replies.envelope(replies.validated(ref))) is None
    finished = reconcile.handle(replies.envelope(replies.completed(ref, {"00": 4})))
    assert finished is not None
    assert (finished.type, finished.source) == (types.JOB_FINISHED, SOURCE)
    message = "Completed: 4 shots on aer_simulator"
    assert payloads.decode(finished.type, finished.data) == payloads.JobFinished(
        job=ref, phase="Completed", message=message
    )
    assert events(cluster) == [
        ("Normal", "Validating", "Validating generation 1"),
        ("Normal", "Scheduled", "Scheduled on aer_simulator"),
        ("Normal", "Completed", message),
    ]
    assert cluster.events[0] == RecordedEvent(
        "default/bell", "Normal", "Validating", "Validating generation 1"
    )


def test_a_failure_records_its_reason_as_a_warning_and_finishes_the_job(tmp_path: Path) -> None:
    cluster, reconcile, ref = rig(tmp_path)
    finished = reconcile.handle(replies.envelope(replies.failed(ref, "CircuitFailed")))
    assert finished is not None and finished.type == types.JOB_FINISHED
    assert payloads.decode(finished.type, finished.data) == payloads.JobFinished(
        job=ref, phase="Failed", message="the circuit failed"
    )
    assert events(cluster)[-1] == ("Warning", "CircuitFailed", "the circuit failed")


def test_a_rejection_records_its_reason_and_finishes_the_job(tmp_path: Path) -> None:
    cluster, reconcile, ref = rig(tmp_path)
    rejected = payloads.JobRejected(job=ref, reason="SyntaxError", message="line 1")
    finished = reconcile.handle(replies.envelope(rejected))
    assert finished is not None and finished.type == types.JOB_FINISHED
    assert events(cluster)[-1] == ("Warning", "SyntaxError", "line 1")


def test_a_retry_records_a_warning_and_giving_up_finishes_the_job_saying_so(
    tmp_path: Path,
) -> None:
    cluster, reconcile, ref = rig(tmp_path)
    reconcile.handle(replies.envelope(replies.validated(ref)))
    retry = reconcile.handle(replies.envelope(replies.transient(ref, 0)))
    assert retry is not None and (retry.type, retry.source) == (types.JOB_VALIDATED, SOURCE)
    sent = payloads.decode(retry.type, retry.data)
    assert isinstance(sent, payloads.JobValidated)
    assert sent.execution.not_before == (NOW + timedelta(seconds=backoff(1))).timestamp()
    assert events(cluster)[-1] == (
        "Warning",
        "Retrying",
        "Retry 1 after a transient failure: worker died",
    )
    finished = reconcile.handle(replies.envelope(replies.transient(ref, 1)))
    assert finished is not None and finished.type == types.JOB_FINISHED
    assert events(cluster)[-1] == (
        "Warning",
        "TransientFailure",
        "worker died (gave up after 1 retries)",
    )
    status = cluster.get("default/bell").status  # type: ignore[union-attr]
    assert status is not None and status.phase is Phase.FAILED


def test_each_move_is_one_log_line_and_counted_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qiskit_operator.reconciling")
    with Counted("qop_job_phase_transitions_total", phase="Scheduled") as scheduled:
        _, reconcile, ref = rig(tmp_path)
        reconcile.handle(replies.envelope(replies.validated(ref)))
        reconcile.handle(replies.envelope(replies.validated(ref)))  # a duplicate: no move
    assert scheduled.by == 1
    moves = [r.getMessage() for r in caplog.records if " -> " in r.getMessage()]
    assert moves == [
        "default/bell: new -> Validating: Validating the circuit",
        "default/bell: Validating -> Scheduled: Scheduled on aer_simulator",
    ]


def test_an_event_refused_or_ignored_is_counted_by_its_verdict(tmp_path: Path) -> None:
    _, reconcile, ref = rig(tmp_path)
    stale = payloads.JobRef(namespace="default", name="bell", uid=ref.uid, generation=0)
    with Counted("qop_event_claims_total", verdict="ignored", reason="stale") as ignored:
        assert reconcile.handle(replies.envelope(replies.completed(stale))) is None
    other = payloads.JobRef(namespace="default", name="bell", uid="other", generation=1)
    with (
        Counted("qop_event_claims_total", verdict="refused", reason="uid_mismatch") as refused,
        pytest.raises(UserError, match="refused: the event names uid other") as raised,
    ):
        reconcile.handle(replies.envelope(replies.completed(other)))
    assert (ignored.by, refused.by, raised.value.reason) == (1, 1, "EventRefused")


def test_events_that_are_not_answers_change_nothing_or_start_a_resync(tmp_path: Path) -> None:
    cluster, reconcile, ref = rig(tmp_path)
    obj = cluster.api.get("qiskitjobs", "default", "bell")
    assert obj is not None
    before = cluster.get("default/bell")
    assert reconcile.handle(resource_event(obj, types.APISERVER_DELETE)) is None
    finished = payloads.JobFinished(job=ref, phase="Completed", message="")
    assert (
        reconcile.handle(
            Envelope(type=types.JOB_FINISHED, source="/t", data=payloads.encode(finished))
        )
        is None
    )
    assert reconcile.handle(resource_event(obj, types.APISERVER_UPDATE)) is None  # seen already
    assert cluster.get("default/bell") == before
    assert reconcile.handle(ping_event()) is None
    assert cluster.api.calls[-1] == "list"
    garbled = Envelope(type=types.JOB_COMPLETED, source="/t", data=b"{}")
    with pytest.raises(UserError) as raised:
        reconcile.handle(garbled)
    assert raised.value.reason == "InvalidEvent"


def test_a_letter_reconcile_could_not_get_is_handled_and_one_for_another_fails_the_job(
    tmp_path: Path,
) -> None:
    cluster, reconcile, ref = rig(tmp_path)
    to_reconcile = replies.envelope(replies.validated(ref))
    to_reconcile.extensions["knativeerrordest"] = "http://qiskit-reconcile.qiskit-operator"
    assert reconcile.handle_dead_letter(to_reconcile) is None
    assert cluster.get("default/bell").status.phase is Phase.SCHEDULED  # type: ignore[union-attr]
    to_execute = replies.envelope(replies.validated(ref))
    to_execute.extensions["knativeerrordest"] = "http://qiskit-execute.qiskit-operator"
    to_execute.extensions["knativeerrorcode"] = "503"
    finished = reconcile.handle_dead_letter(to_execute)
    assert finished is not None and finished.type == types.JOB_FINISHED
    status = cluster.get("default/bell").status  # type: ignore[union-attr]
    assert status is not None and status.phase is Phase.FAILED
    assert status.message is not None and "http://qiskit-execute.qiskit-operator gave 503" in (
        status.message
    )


def test_a_wake_up_execute_could_not_get_fails_no_job(tmp_path: Path) -> None:
    """knative/triggers.yaml execute-wake-up: the Broker's dead-letter sink still gets
    it, but a job's creation is no work of execute's; its work is job.validated."""
    cluster, reconcile, _ = rig(tmp_path)
    obj = cluster.api.get("qiskitjobs", "default", "bell")
    assert obj is not None
    before = cluster.get("default/bell")
    for type_ in (types.APISERVER_ADD, types.APISERVER_DELETE):
        letter = resource_event(obj, type_)
        letter.extensions["knativeerrordest"] = "http://qiskit-execute.qiskit-operator"
        letter.extensions["knativeerrorcode"] = "503"
        assert reconcile.handle_dead_letter(letter) is None
    assert cluster.get("default/bell") == before
    for_validate = resource_event(obj, types.APISERVER_ADD)
    for_validate.extensions["knativeerrordest"] = "http://qiskit-validate.qiskit-operator"
    assert reconcile.handle_dead_letter(for_validate) is not None  # that was its work
    assert cluster.get("default/bell").status.phase is Phase.FAILED  # type: ignore[union-attr]


def test_results_go_to_the_configmap_the_spec_names_under_the_formats_key(tmp_path: Path) -> None:
    cluster, reconcile, ref = rig(tmp_path, type="configmap", format="csv", location="out")
    output = payloads.OutputRequest(type="configmap", location="out", format="csv")
    location = reconcile.results.put(ref, output, b"a,b\n")
    reconcile.handle(replies.envelope(replies.completed(ref, location=location)))
    assert cluster.configmaps[("default", "out")].data == {"result.csv": "a,b\n"}
    status = cluster.get("default/bell").status  # type: ignore[union-attr]
    assert status is not None and status.results is not None
    assert status.results.location == "configmap://default/out"


def test_results_on_the_volume_stay_where_execute_wrote_them(tmp_path: Path) -> None:
    cluster, reconcile, ref = rig(tmp_path, type="pvc", format="json", path="runs/bell")
    output = payloads.OutputRequest(type="pvc", path="runs/bell", format="json")
    location = reconcile.results.put(ref, output, b"{}")
    reconcile.handle(replies.envelope(replies.completed(ref, location=location)))
    assert cluster.configmaps == {}
    status = cluster.get("default/bell").status  # type: ignore[union-attr]
    assert status is not None and status.results is not None
    assert status.results.location == location
    assert location.endswith("/default/runs/bell.json")


def test_the_resync_records_what_it_did_with_each_job(tmp_path: Path) -> None:
    cluster, reconcile, ref = rig(tmp_path)
    reconcile.handle(replies.envelope(replies.validated(ref)))
    reconcile.clock = lambda: NOW + timedelta(minutes=11)
    assert reconcile.resync() == [ref]
    assert events(cluster)[-1][:2] == ("Warning", "Requeued")
    reconcile.clock = lambda: NOW + timedelta(hours=2)
    assert reconcile.resync() == [ref]
    assert events(cluster)[-1][:2] == ("Warning", "Stalled")
    assert reconcile.resync() == []


def test_a_dead_letter_names_its_trigger_the_subscriber_and_its_answer(tmp_path: Path) -> None:
    cluster, reconcile, ref = rig(tmp_path)
    bare = replies.envelope(replies.validated(ref))  # no extensions: Knative said nothing
    assert reconcile.handle_dead_letter(bare) is not None
    status = cluster.get("default/bell").status  # type: ignore[union-attr]
    assert status is not None and status.message == (
        "the pipeline stopped: io.qiskit.operator.job.validated could not be delivered by "
        "its Trigger: a function gave no answer"
    )
    about_nothing = Envelope(type="dev.example.unknown", source="/t", data=b"{}")
    assert reconcile.handle_dead_letter(about_nothing) is None


def test_reconcile_is_ready_at_once_and_its_clock_is_utc_to_the_second() -> None:
    reconcile = Reconciler(FakeCluster(), ResultStore(Path("/nonexistent")))
    assert reconcile.ready() is True
    now = reconcile.clock()
    assert now.tzinfo is UTC and now.microsecond == 0
    assert abs((datetime.now(UTC) - now).total_seconds()) < 3600  # today, not a constant


def test_a_job_is_asked_for_only_once_older_than_the_grace(tmp_path: Path) -> None:
    cluster = FakeCluster()
    manifest = job_manifest()
    grace = timedelta(seconds=60)
    manifest["metadata"]["creationTimestamp"] = (NOW - grace).isoformat()
    ref = replies.ref_of(cluster.add(manifest))
    reconcile = Reconciler(cluster, ResultStore(tmp_path), clock=lambda: NOW, resync_after=grace)
    assert reconcile.resync() == []  # exactly as old as the grace: still its own event's
    reconcile.clock = lambda: NOW + timedelta(seconds=1)
    assert reconcile.resync() == [ref]


def test_a_job_that_moves_between_the_list_and_the_write_is_not_resynced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="qiskit_operator.reconciling")
    cluster, reconcile, ref = rig(tmp_path)
    reconcile.handle(replies.envelope(replies.validated(ref)))
    reconcile.clock = lambda: NOW + timedelta(minutes=11)
    answer = replies.envelope(replies.completed(ref))
    cluster.api.before("get", lambda: reconcile.handle(answer))  # another worker, meanwhile
    assert reconcile.resync() == []
    assert cluster.get("default/bell").status.phase is Phase.COMPLETED  # type: ignore[union-attr]
    reconcile.clock = lambda: NOW + timedelta(hours=3)
    cluster.add(job_manifest(shots=3))  # generation 2, which no event announced
    assert reconcile.resync() == [
        payloads.JobRef(namespace="default", name="bell", uid=ref.uid, generation=2)
    ]
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("default/bell: No event about generation 2 reached the operator")


def test_a_transient_failure_of_a_job_deleted_meanwhile_sends_nothing(tmp_path: Path) -> None:
    cluster, reconcile, ref = rig(tmp_path)
    reconcile.handle(replies.envelope(replies.validated(ref)))
    gone = lambda: cluster.api.delete("qiskitjobs", "default", "bell")  # noqa: E731
    cluster.api.before("get", lambda: cluster.api.before("get", gone))  # after the claims' read
    assert reconcile.handle(replies.envelope(replies.transient(ref, 0))) is None
