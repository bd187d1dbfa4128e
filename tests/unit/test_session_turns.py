"""Reconcile gives out a QiskitSession's turns and closes it; validate holds a session's
job until its turn and then runs it on the session's backend (sessions/)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qiskit_operator.errors import UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.local.pipeline import admit
from qiskit_operator.local.stack import ping_event
from qiskit_operator.models import Phase, QiskitJob
from qiskit_operator.models.job import ObjectMeta
from qiskit_operator.models.session import QiskitSession, QiskitSessionSpec
from qiskit_operator.models.spec import BackendSpec
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from qiskit_operator.sessions.holding import JobHeld, SessionGate, encode_held, in_turn
from qiskit_operator.sessions.store import MemorySessions, admitted, waiting_turn
from qiskit_operator.status.writer import MemoryStatusStore
from tests import replies
from tests.conftest import Counted, job_manifest

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def a_session(max_time: str = "10m", mode: str = "dedicated") -> QiskitSession:
    spec = {"mode": mode, "maxTime": max_time, "backend": {"method": "statevector"}}
    return QiskitSession(
        metadata=ObjectMeta(name="night", namespace="default", generation=1, uid="s-uid"),
        spec=QiskitSessionSpec.model_validate(spec),
    )


class Rig:
    def __init__(self, tmp_path: Path, session: QiskitSession) -> None:
        self.clock = Clock()
        self.jobs = MemoryStatusStore()
        self.sessions = MemorySessions(self.jobs, [session])
        self.objects: dict[str, dict[str, object]] = {}
        self.reconcile = Reconciler(
            self.jobs, ResultStore(tmp_path), clock=self.clock, sessions=self.sessions
        )

    def submit(self, name: str, priority: str = "normal", second: int = 0) -> payloads.JobRef:
        manifest = job_manifest(name, priority=priority)
        manifest["spec"]["session"] = {"name": "night"}
        obj = admit(manifest)
        obj["metadata"]["creationTimestamp"] = (T0 + timedelta(seconds=second)).isoformat()
        self.jobs.add(QiskitJob.model_validate(obj))
        self.objects[name] = obj
        ref = replies.ref_of(obj)
        held = JobHeld(job=ref, session="night")
        self.reconcile.handle(Envelope(type=types.JOB_HELD, source="/t", data=encode_held(held)))
        return ref

    def job(self, ref: payloads.JobRef) -> QiskitJob:
        found = self.jobs.get(ref.key)
        assert found is not None
        return found

    def given_turn(self, ref: payloads.JobRef) -> bool:
        return admitted(self.job(ref).status, ref.generation)

    def finish(self, ref: payloads.JobRef) -> None:
        self.reconcile.handle(replies.envelope(replies.validated(ref)))
        self.reconcile.handle(replies.envelope(replies.completed(ref, {"00": 4})))

    def session(self) -> QiskitSession:
        found = self.sessions.session("default", "night")
        assert found is not None
        return found


def test_a_dedicated_session_runs_its_jobs_one_by_one_urgent_first(tmp_path: Path) -> None:
    rig = Rig(tmp_path, a_session())
    first = rig.submit("first", second=1)
    low = rig.submit("low", "low", second=2)
    urgent = rig.submit("urgent", "urgent", second=3)
    assert rig.given_turn(first)
    assert not rig.given_turn(low) and not rig.given_turn(urgent)
    assert rig.job(low).status.message == "waiting for its turn in session night (position 2)"  # type: ignore[union-attr]
    status = rig.session().status
    assert status is not None and status.running == ["first"] and status.waiting == 2

    rig.finish(first)
    assert rig.given_turn(urgent) and not rig.given_turn(low)
    rig.finish(urgent)
    assert rig.given_turn(low)
    rig.finish(low)
    status = rig.session().status
    assert status is not None
    assert (status.state, status.jobs_run, status.running, status.waiting) == ("Open", 3, [], 0)


def test_deleting_the_running_job_gives_the_next_its_turn(tmp_path: Path) -> None:
    rig = Rig(tmp_path, a_session())
    running = rig.submit("running")
    waiting = rig.submit("waiting", second=1)
    rig.jobs.delete(running.key)
    rig.reconcile.handle(resource_event(rig.objects["running"], types.APISERVER_DELETE))
    assert rig.given_turn(waiting)
    status = rig.session().status
    assert status is not None and status.running == ["waiting"]


def test_a_job_waiting_its_turn_longer_than_the_stall_limit_is_not_failed_as_stalled(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, a_session(max_time="8h"))
    running = rig.submit("long-running")
    # in its provider's queue, as a session's hardware job waits for hours
    rig.reconcile.handle(replies.envelope(replies.validated(running)))
    queued = payloads.JobSubmitted(job=running, job_id="j-1", backend="fake_remote")
    rig.reconcile.handle(
        Envelope(type=types.JOB_SUBMITTED, source="/t", data=payloads.encode(queued))
    )
    waiting = rig.submit("waiting", second=1)
    rig.clock.now = T0 + timedelta(hours=2)  # the resync's stall limit is one hour
    rig.reconcile.handle(ping_event())
    status = rig.job(waiting).status
    assert status is not None and status.phase is Phase.VALIDATING  # not Failed: Stalled
    assert waiting_turn(status, waiting.generation)  # still in the queue
    # the lease still asks validate for it now and then, which holds it again (or
    # refuses it, should its session be gone)
    assert status.requeued_for(waiting.generation)


def test_at_max_time_the_running_job_finishes_and_the_waiting_ones_fail(tmp_path: Path) -> None:
    rig = Rig(tmp_path, a_session(max_time="5m"))
    running = rig.submit("running")
    waiting = rig.submit("waiting", second=1)
    rig.clock.now = T0 + timedelta(minutes=5)
    with Counted("qop_session_turns_total", action="closed_out") as closed_out:
        rig.reconcile.handle(ping_event())
    assert closed_out.by == 1
    status = rig.session().status
    assert status is not None and status.state == "Closed"
    late = rig.job(waiting).status
    assert late is not None and late.phase is Phase.FAILED
    assert "session night closed before this job's turn" in (late.message or "")
    rig.finish(running)
    done = rig.job(running).status
    assert done is not None and done.phase is Phase.COMPLETED
    status = rig.session().status
    assert status is not None and status.jobs_run == 1 and status.time_used_seconds == 300.0


def test_validate_holds_a_job_until_its_turn_then_runs_it_on_the_sessions_backend(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, a_session())
    gate = SessionGate(rig.sessions)
    ahead = rig.submit("ahead")
    manifest = job_manifest("later")
    manifest["spec"]["session"] = {"name": "night"}
    later = QiskitJob.model_validate(admit(manifest))
    ref = replies.ref_of(later.model_dump(mode="json", by_alias=True))
    assert gate.admit(later, ref) == JobHeld(job=ref, session="night")
    turn = gate.admit(rig.job(ahead), ahead)
    assert isinstance(turn, QiskitJob)
    assert turn.spec.backend == BackendSpec(method="statevector")
    assert turn.spec.session is not None and turn.spec.session.mode == "dedicated"
    assert in_turn(rig.job(ahead))


def test_a_job_naming_a_session_that_does_not_exist_is_refused_saying_so(
    tmp_path: Path,
) -> None:
    gate = SessionGate(MemorySessions(MemoryStatusStore()))
    manifest = job_manifest("lost")
    manifest["spec"]["session"] = {"name": "nowhere"}
    job = QiskitJob.model_validate(admit(manifest))
    ref = replies.ref_of(job.model_dump(mode="json", by_alias=True))
    with pytest.raises(UserError, match="there is no QiskitSession nowhere in namespace default"):
        gate.admit(job, ref)
