"""The reconcile function's logic: the only writer of job status.

Input: ApiServerSource events and every reply of validate and execute. A reply is a
claim: it is checked against the job as the API server has it now (`status.claims`: uid,
generation, phase change, result location) before anything is written, then becomes a
status change through a `StatusWriter` (pure rules in `status.transitions`, each write
counted by `status.updates`). A transient execution failure is sent again with backoff
up to `max_retries`; the step into a final phase replies `job.finished` and ends the
job's span. Full results bound for a ConfigMap are written here, owned by the job, after
the checks, from the file the job expects, into a ConfigMap the job owns or creates
(never one that is someone else's). On the PingSource's ping, jobs no event announced
are asked for again (`status.resync`), finished jobs whose time to live ran out are
deleted (`retention`), and hardware jobs' records are written (`hardware.observing`). A
budgeted job's `job.budgeted` is admitted here, its estimate reserved in its
QiskitBudget, before it goes on to execute; a job that ends is charged or gets its
reservation back (`budgets.admitting`). A job whose spec.cancel is set ends Cancelled,
and execute is told to stop it (`execution.cancel`). A job in a QiskitSession waits
there (`job.held`) until `sessions.scheduling` gives it its turn; one that ends gives
the next. A session's job is budgeted only in its turn: validate prices it on the
session's backend then. Imports no Qiskit, so the reconcile image need not carry it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec

from qiskit_operator import metrics, tracing
from qiskit_operator.budgets.admitting import BudgetKeeper
from qiskit_operator.catalogue.refreshing import CatalogueRefresh
from qiskit_operator.errors import UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import job_ref_from_raw
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.payloads import JobRef
from qiskit_operator.hardware.observing import HardwareObserver
from qiskit_operator.hardware.records import RecordStore
from qiskit_operator.models import JobStatus, Phase
from qiskit_operator.models.spec import OutputSpec
from qiskit_operator.results import ResultStore
from qiskit_operator.retention import Expiry
from qiskit_operator.routing.deadletter import dead_letter
from qiskit_operator.sessions.holding import decode_held
from qiskit_operator.sessions.scheduling import SessionScheduler
from qiskit_operator.sessions.store import SessionStore
from qiskit_operator.status import claims, transitions
from qiskit_operator.status.resync import Resync
from qiskit_operator.status.updates import PhaseUpdates
from qiskit_operator.status.writer import (
    ConfigMapTakenError,
    JobNow,
    StatusWriter,
)
from qiskit_operator.storage import objects

SOURCE = "/qiskit-operator/reconcile"
MAX_BACKOFF_SECONDS = 30.0
log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def backoff(attempt: int) -> float:
    """Seconds before retry `attempt` (1-based): 1, 2, 4, ... up to 30."""
    return float(min(2 ** (attempt - 1), MAX_BACKOFF_SECONDS))


class Reconciler:
    def __init__(
        self,
        writer: StatusWriter,
        results: ResultStore,
        max_retries: int = 3,
        clock: Callable[[], datetime] = _now,
        resync_after: timedelta = timedelta(seconds=60),
        stalled_after: timedelta | None = timedelta(hours=1),
        expiry: Expiry | None = None,
        lease: timedelta | None = timedelta(minutes=10),
        catalogue: CatalogueRefresh | None = None,
        budgets: BudgetKeeper | None = None,
        sessions: SessionStore | None = None,
    ) -> None:
        self.writer = writer
        self.results = results
        self.max_retries = max_retries
        self.clock = clock
        self.expiry = expiry
        self.budgets = budgets
        self.updates = PhaseUpdates(writer, None if budgets is None else budgets.ended)
        self.resyncing = Resync(
            self.updates, resync_after, stalled_after, lease, expiry, catalogue, budgets
        )
        # QiskitSessions' queues and status (sessions/); None: no job may name one.
        self.sessions = None if sessions is None else SessionScheduler(sessions, writer, clock)
        # Execute's records of hardware jobs, on the volume the two share.
        self.hardware = HardwareObserver(
            self.updates, RecordStore(results.root), lambda: self.clock()
        )

    def ready(self) -> bool:
        return True

    def handle(self, event: Envelope) -> Envelope | None:
        if event.type in (types.APISERVER_ADD, types.APISERVER_UPDATE):
            cancel = self._cancel(event)
            if cancel is None:
                self._seen(event)
            self._expire(event)
            return cancel
        if event.type == types.APISERVER_DELETE:
            self._deleted(event)
            return None  # Kubernetes removes the job and what it owns
        if event.type == types.JOB_FINISHED:
            return None
        if event.type == types.JOB_BUDGETED:
            return self._admit(event)
        if event.type == types.PING:
            self.resync()
            if self.sessions is not None:
                self.sessions.tick(self._session_failure(event))
            return self._observe_hardware(event)
        if event.type == types.JOB_HELD:
            self._held(event)
            return None
        try:
            payload = payloads.decode(event.type, event.data)
        except payloads.PayloadError as error:
            raise UserError(str(error), reason="InvalidEvent") from error
        return self._claimed(event, payload)

    def _claimed(self, event: Envelope, payload: payloads.Reply) -> Envelope | None:
        """Act on what `payload` claims happened, once it is checked against the job."""
        job = self.writer.read(payload.job)
        judgement = claims.judge(job, payload, self._expected_location(job))
        metrics.EVENT_CLAIMS.labels(judgement.verdict.value, judgement.reason).inc()
        if judgement.verdict is claims.Verdict.REFUSED:
            log.warning("refused event %s (%s): %s", event.id, event.type, judgement.why)
            raise UserError(f"refused: {judgement.why}", reason="EventRefused")
        if job is None or not judgement.accepted:
            log.info("ignored event %s (%s): %s", event.id, event.type, judgement.why)
            return None
        if isinstance(payload, payloads.JobFailed) and payload.kind == "transient":
            return self._transient(event, payload)
        if isinstance(payload, payloads.JobCompleted):
            published = self._publish_result(job, payload)
            if published is None:
                return None  # a newer generation's or job's results are there: stale
            payload = published
        now = self.clock()
        written = self.updates(payload.job, lambda s: _apply(s, payload, now))
        if written is None:
            log.debug("event %s (%s) changed nothing for %s", event.id, event.type, payload.job.key)
            return None
        self._record(payload, written)
        if written.phase is not None and written.phase.is_terminal:
            if self.sessions is not None:  # its session's next turn
                self.sessions.job_ended(payload.job, self._session_failure(event))
            return self._finished(event, payload.job, written)
        return None

    def _held(self, event: Envelope) -> None:
        """`job.held`: validate found the job waiting for its session's turn."""
        held = decode_held(event.data)
        job = self.writer.read(held.job)
        if job is None or job.ref != held.job or self.sessions is None:
            log.info("ignored event %s (%s): not about the job as it is now", event.id, event.type)
            return
        self.sessions.held(held, self._session_failure(event))

    def _session_failure(self, event: Envelope) -> Callable[[JobRef, str], None]:
        """How a job still waiting when its session closed fails: as validate's refusal
        would, checked against the job like any claim."""

        def fail(ref: JobRef, message: str) -> None:
            refusal = payloads.JobRejected(job=ref, reason="SessionClosed", message=message)
            with tracing.job_trace(ref):
                self._claimed(event, refusal)

        return fail

    def _admit(self, event: Envelope) -> Envelope | None:
        """A validated job its QiskitBudget must admit: its estimate is reserved there and
        the work goes on to execute as `job.validated`; over what is left, it fails
        before it runs, saying how much remains and which budget to raise."""
        try:
            work = payloads.decode(event.type, event.data)
        except payloads.PayloadError as error:
            raise UserError(str(error), reason="InvalidEvent") from error
        assert isinstance(work, payloads.JobValidated)  # what job.budgeted carries
        job = self.writer.read(work.job)
        judgement = claims.judge(job, work, self._expected_location(job))
        if judgement.verdict is claims.Verdict.REFUSED:
            raise UserError(f"refused: {judgement.why}", reason="EventRefused")
        if job is None or not judgement.accepted:
            log.info("ignored event %s (%s): %s", event.id, event.type, judgement.why)
            return None
        verdict = self.budgets.admit(work) if self.budgets is not None else None
        if verdict is None or verdict.admitted:
            return event.reply(types.JOB_VALIDATED, SOURCE, payloads.encode(work))
        refused = payloads.JobRejected(job=work.job, reason=verdict.reason, message=verdict.message)
        return self._claimed(event, refused)

    def _cancel(self, event: Envelope) -> Envelope | None:
        """A job whose spec.cancel is true ends Cancelled, its budget's reservation goes
        back, and execute is told to stop what runs for it (`execution.cancel`). None,
        writing nothing, for a job that asks for no cancel or whose cancel is noted."""
        ref = job_ref_from_raw(event)
        if ref is None or not _asks_cancel(event.data):
            return None
        now = self.clock()
        written = self.updates(ref, lambda s: transitions.cancel_requested(s, ref.generation, now))
        if written is None:
            return None
        if self.budgets is not None:
            self.budgets.release(ref.namespace, ref.uid)
        if written.phase is Phase.CANCELLED:
            message = written.message or ""
            self.writer.record_event(ref, "Warning", "Cancelled", message)
            tracing.end_job_span(ref, written.start_time, written.phase.value, message)
            if self.sessions is not None:  # its session's next turn
                self.sessions.job_ended(ref, self._session_failure(event))
        request = payloads.CancelRequest(job=ref)
        return event.reply(types.EXECUTION_CANCEL, SOURCE, payloads.encode_cancel(request))

    def _deleted(self, event: Envelope) -> None:
        """A deleted job's budget reservations go back, and a session it ran in gives
        the next turn."""
        ref = job_ref_from_raw(event)
        if ref is None:
            return
        if self.budgets is not None and ref.uid:
            self.budgets.release(ref.namespace, ref.uid)
        if self.sessions is not None:
            self.sessions.job_ended(ref, self._session_failure(event))

    def _observe_hardware(self, ping: Envelope) -> Envelope | None:
        """Write what execute's last poll found of each hardware job; while any is still
        with its provider, answer the ping with `hardware.poll` (`hardware.observing`)."""
        waiting = self.hardware.observe(lambda claim: self._claimed(ping, claim))
        return ping.reply(types.HARDWARE_POLL, SOURCE, b"{}") if waiting else None

    def handle_dead_letter(self, event: Envelope) -> Envelope | None:
        """An event Knative could not deliver after its retries (the Triggers' dead-letter
        sink is `POST /dead-letter` here): the job it is about fails, saying why.

        Knative adds where it failed (`knativeerrordest`) and the answer it got. An event
        that could not reach reconcile itself is simply handled now that it is here.
        """
        destination = event.extension("knativeerrordest") or "a function"
        if "reconcile" in destination:
            return self.handle(event)
        answer = event.extension("knativeerrorcode") or "no answer"
        letter = dead_letter(event, "its Trigger", destination, f"{destination} gave {answer}")
        return None if letter is None else self.handle(letter)

    def resync(self) -> list[JobRef]:
        """Mend what lost events left behind (`status.resync`); the jobs it wrote."""
        return self.resyncing(self.clock())

    def _seen(self, event: Envelope) -> None:
        ref = job_ref_from_raw(event)
        if ref is None:
            return
        now = self.clock()
        if self.updates(ref, lambda s: transitions.seen(s, ref.generation, now)):
            self.writer.record_event(
                ref, "Normal", "Validating", f"Validating generation {ref.generation}"
            )

    def _expire(self, event: Envelope) -> None:
        """A job's final status write comes back as its update event: with a time to
        live of 0 (or one already over), the job is deleted now, not at the next ping."""
        if self.expiry is None:
            return
        try:
            item = json.loads(event.data)
        except ValueError:
            return
        if isinstance(item, dict):
            self.expiry.check(item, self.clock())

    def _transient(self, event: Envelope, failure: payloads.JobFailed) -> Envelope | None:
        now = self.clock()
        seen: JobStatus | None = None  # stays None when the job is gone before the read

        def decide(current: JobStatus | None) -> JobStatus | None:
            nonlocal seen  # the status the last try decided on
            seen = current
            return transitions.retrying(current, failure, now, self.max_retries, backoff)

        written = self.updates(failure.job, decide)
        if written is None:
            if transitions.retry_to_resend(seen, failure):
                assert seen is not None  # for mypy: retry_to_resend says so
                return self._retry(event, failure, seen)
            return None  # a duplicate of an older attempt, or the job moved on
        if written.phase is Phase.FAILED:
            self._record(failure, written)
            return self._finished(event, failure.job, written)
        self.writer.record_event(failure.job, "Warning", "Retrying", written.message or "")
        return self._retry(event, failure, written)

    def _retry(self, event: Envelope, failure: payloads.JobFailed, status: JobStatus) -> Envelope:
        """The work again, as the retry `status` records (its number and time)."""
        work, count, at = failure.work, status.retry_count, status.next_retry_at
        assert work is not None and count is not None and at is not None  # a retry's, always
        again = msgspec.structs.replace(
            work,
            execution=msgspec.structs.replace(
                work.execution,
                attempt=count,
                not_before=at.timestamp(),
            ),
        )
        return event.reply(types.JOB_VALIDATED, SOURCE, payloads.encode(again))

    def _finished(self, event: Envelope, ref: JobRef, written: JobStatus) -> Envelope:
        """This write moved the job's generation into a final phase: its span ends, and
        `job.finished` says so."""
        phase = written.phase.value if written.phase is not None else ""
        message = written.message or ""
        tracing.end_job_span(ref, written.start_time, phase, message)
        finished = payloads.JobFinished(job=ref, phase=phase, message=message)
        return event.reply(types.JOB_FINISHED, SOURCE, payloads.encode(finished))

    def _expected_location(self, job: JobNow | None) -> str | None:
        """Where execute writes this job's full result now; None when it asks for none."""
        if job is None or job.output is None or job.output.type not in ("configmap", "pvc", "s3"):
            return None
        if job.output.type == "s3":  # execute uploaded it; reconcile never reads the bucket
            return objects.location_for(job.ref, _requested(job.output))
        return self.results.location_for(job.ref, _requested(job.output))

    def _publish_result(
        self, job: JobNow, completed: payloads.JobCompleted
    ) -> payloads.JobCompleted | payloads.JobFailed | None:
        """The job's result file, checked to be the one it expects (`claims.judge`), into
        the ConfigMap its spec names; a ConfigMap that is not the job's fails it. None when
        the ConfigMap holds a newer generation's results (or a newer job's of that name):
        this answer is stale, and nothing is written."""
        output = job.output
        if output is None or output.type != "configmap":
            return completed
        ref = job.ref
        name = output.location or f"{ref.name}-results"
        document = self.results.read(ref, _requested(output)).decode()
        try:
            if not self.writer.write_configmap(ref, name, {f"result.{output.format}": document}):
                return None
        except ConfigMapTakenError as taken:
            return payloads.JobFailed(job=ref, reason=taken.reason, message=taken.message)
        return msgspec.structs.replace(completed, location=f"configmap://{ref.namespace}/{name}")

    def _record(self, payload: payloads.Reply, status: JobStatus) -> None:
        ref = payload.job
        message = status.message or ""
        if isinstance(payload, payloads.JobSubmitted):
            self.writer.record_event(ref, "Normal", "Queued", message)
        elif isinstance(payload, payloads.JobValidated):
            choice = payload.selection
            if choice is not None and choice.fallback_used:
                self.writer.record_event(ref, "Warning", "FallbackUsed", choice.message)
            self.writer.record_event(ref, "Normal", "Scheduled", message)
        elif isinstance(payload, payloads.JobCompleted):
            self.writer.record_event(ref, "Normal", "Completed", message)
        elif isinstance(payload, payloads.JobRejected | payloads.JobFailed):
            self.writer.record_event(ref, "Warning", payload.reason, message)


def _asks_cancel(data: bytes) -> bool:
    """Whether the object an event carries has spec.cancel: true (read leniently)."""
    try:
        spec = json.loads(data).get("spec")
    except (ValueError, AttributeError, RecursionError):
        return False
    return isinstance(spec, dict) and spec.get("cancel") is True


def _requested(output: OutputSpec) -> payloads.OutputRequest:
    return objects.requested(output)


def _apply(current: JobStatus | None, payload: payloads.Reply, now: datetime) -> JobStatus | None:
    if isinstance(payload, payloads.JobValidated):
        return transitions.validated(current, payload, now)
    if isinstance(payload, payloads.JobRejected):
        return transitions.rejected(current, payload, now)
    if isinstance(payload, payloads.JobCompleted):
        return transitions.completed(current, payload, now)
    if isinstance(payload, payloads.JobFailed):
        return transitions.failed(current, payload, now)
    if isinstance(payload, payloads.JobSubmitted):
        return transitions.submitted(current, payload, now)
    if isinstance(payload, payloads.JobProgressed):
        return transitions.progressed(current, payload)
    return None
