"""Status transitions of hardware jobs: Queued with the job id, Running, and the
resync leaving a job its provider holds alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qiskit_operator.events import payloads
from qiskit_operator.models import JobStatus, Phase
from qiskit_operator.status import transitions

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
REF = payloads.JobRef(namespace="default", name="bell", uid="u", generation=1)
SUBMITTED = payloads.JobSubmitted(
    job=REF, job_id="fake-1", backend="fake_remote", queue_position=3, estimated_start=1.8e9
)


def scheduled() -> JobStatus:
    return JobStatus(phase=Phase.SCHEDULED, observed_generation=1, start_time=NOW)


def test_a_submission_queues_the_job_with_the_providers_job_id() -> None:
    status = transitions.submitted(scheduled(), SUBMITTED, NOW)
    assert status is not None and status.phase is Phase.QUEUED
    assert (status.job_id, status.queue_position) == ("fake-1", 3)
    assert status.estimated_start_time == datetime.fromtimestamp(1.8e9, UTC)
    assert status.message == "Queued on fake_remote as job fake-1"


def test_the_same_submission_twice_changes_nothing() -> None:
    queued = transitions.submitted(scheduled(), SUBMITTED, NOW)
    assert transitions.submitted(queued, SUBMITTED, NOW) is None


def test_a_retried_submission_still_reaches_the_queue() -> None:
    retrying = scheduled().model_copy(update={"phase": Phase.RETRYING, "retry_count": 1})
    status = transitions.submitted(retrying, SUBMITTED, NOW)
    assert status is not None and status.phase is Phase.QUEUED


def test_progress_moves_queued_to_running_and_never_back() -> None:
    queued = transitions.submitted(scheduled(), SUBMITTED, NOW)
    running = transitions.remote_progress(queued, REF, "running", None, None)
    assert running is not None and running.phase is Phase.RUNNING
    assert running.message == "Running on fake_remote as job fake-1"
    assert transitions.remote_progress(running, REF, "queued", 2, None) is None


def test_a_late_submission_never_moves_a_finished_job() -> None:
    done = scheduled().model_copy(update={"phase": Phase.COMPLETED})
    assert transitions.submitted(done, SUBMITTED, NOW) is None


def test_a_job_its_provider_holds_is_neither_stalled_nor_requeued_however_long_it_waits() -> None:
    queued = transitions.submitted(scheduled(), SUBMITTED, NOW)
    later = NOW + timedelta(days=2)
    assert transitions.stalled(queued, REF, later, timedelta(hours=1)) is None
    assert transitions.requeued(queued, REF, later, timedelta(minutes=10)) is None
