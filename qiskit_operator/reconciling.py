"""The reconcile function's logic: the only writer of job status.

Input: ApiServerSource events and every reply of validate and execute. Each
becomes a status change through a `StatusWriter` (pure rules in
`status.transitions`); the step into a final phase replies `job.finished`.
Imports no Qiskit, so the reconcile image need not carry it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from qiskit_operator.errors import UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import job_ref_from_raw
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.models import JobStatus
from qiskit_operator.status import transitions
from qiskit_operator.status.writer import StatusWriter

SOURCE = "/qiskit-operator/reconcile"
log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Reconciler:
    def __init__(self, writer: StatusWriter, clock: Callable[[], datetime] = _now) -> None:
        self.writer = writer
        self.clock = clock

    def ready(self) -> bool:
        return True

    def handle(self, event: Envelope) -> Envelope | None:
        if event.type in (types.APISERVER_ADD, types.APISERVER_UPDATE):
            self._seen(event)
            return None
        if event.type == types.APISERVER_DELETE or event.type == types.JOB_FINISHED:
            return None  # Kubernetes removes the job and what it owns
        try:
            payload = payloads.decode(event.type, event.data)
        except payloads.PayloadError as error:
            raise UserError(str(error), reason="InvalidEvent") from error
        now = self.clock()
        written = self.writer.update(payload.job, lambda s: _apply(s, payload, now))
        if written is None:
            log.debug("event %s (%s) changed nothing for %s", event.id, event.type, payload.job.key)
            return None
        self._record(payload, written)
        if written.phase is not None and written.phase.is_terminal:
            finished = payloads.JobFinished(
                job=payload.job, phase=written.phase.value, message=written.message or ""
            )
            return event.reply(types.JOB_FINISHED, SOURCE, payloads.encode(finished))
        return None

    def _seen(self, event: Envelope) -> None:
        ref = job_ref_from_raw(event)
        if ref is None:
            return
        now = self.clock()
        if self.writer.update(ref, lambda s: transitions.seen(s, ref.generation, now)):
            self.writer.record_event(
                ref, "Normal", "Validating", f"Validating generation {ref.generation}"
            )

    def _record(self, payload: payloads.Reply, status: JobStatus) -> None:
        ref = payload.job
        message = status.message or ""
        if isinstance(payload, payloads.JobValidated):
            self.writer.record_event(ref, "Normal", "Scheduled", message)
        elif isinstance(payload, payloads.JobCompleted):
            self.writer.record_event(ref, "Normal", "Completed", message)
        elif isinstance(payload, payloads.JobRejected | payloads.JobFailed):
            self.writer.record_event(ref, "Warning", payload.reason, message)


def _apply(current: JobStatus | None, payload: payloads.Reply, now: datetime) -> JobStatus | None:
    if isinstance(payload, payloads.JobValidated):
        return transitions.validated(current, payload, now)
    if isinstance(payload, payloads.JobRejected):
        return transitions.rejected(current, payload, now)
    if isinstance(payload, payloads.JobCompleted):
        return transitions.completed(current, payload, now)
    if isinstance(payload, payloads.JobFailed):
        return transitions.failed(current, payload, now)
    return None
