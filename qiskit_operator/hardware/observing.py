"""Reconcile's side of hardware jobs: what execute's last poll found, written.

On each ping, each job still with its provider (a phase in `REMOTE`) has its record
read from the results volume execute writes (`records`). A finished record becomes
a claim like any reply (`claim`: checked against the job, then written); one still
queued or running moves the job's status along (`transitions.remote_progress`).
While any job is still with its provider the ping is answered with `hardware.poll`,
and execute asks the providers again (docs/hardware-jobs.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from qiskit_operator import tracing
from qiskit_operator.events import payloads
from qiskit_operator.hardware.records import RecordStore, RemoteRecord
from qiskit_operator.models import Phase
from qiskit_operator.models.phases import REMOTE
from qiskit_operator.status import transitions
from qiskit_operator.status.updates import PhaseUpdates

Claim = Callable[[payloads.Reply], object]


@dataclass
class HardwareObserver:
    updates: PhaseUpdates
    records: RecordStore
    clock: Callable[[], datetime]

    def observe(self, claim: Claim) -> bool:
        """Apply each hardware job's record; whether any is still with its provider.
        A job that ends here sends no `job.finished`: the ping has one answer."""
        waiting = False
        for listed in self.updates.writer.jobs():
            status = listed.status
            if status is None or status.phase not in REMOTE:
                continue
            if status.observed_generation != listed.ref.generation:
                continue
            record = self.records.read(listed.ref)
            if record is None or record.job != listed.ref:  # a claim: about this very job
                waiting = True
                continue
            with tracing.job_trace(listed.ref):
                waiting |= not self._progress(record, claim)
        return waiting

    def _progress(self, record: RemoteRecord, claim: Claim) -> bool:
        """Apply `record` to its job; whether the job is finished with its provider."""
        ref, writer = record.job, self.updates.writer
        if record.state == "completed" and record.completed is not None:
            claim(record.completed)
            return True
        if record.state == "failed":
            reason = record.reason or "RemoteJobFailed"
            claim(payloads.JobFailed(job=ref, reason=reason, message=record.message or ""))
            return True
        if record.state == "cancelled":
            now = self.clock()
            message = f"job {record.job_id} was cancelled at its provider: {record.message}"
            if self.updates(ref, lambda s: transitions.cancelled(s, ref, message, now)):
                writer.record_event(ref, "Warning", "Cancelled", message)
            return True
        written = self.updates(
            ref,
            lambda s: transitions.remote_progress(
                s, ref, record.state, record.queue_position, record.estimated_start
            ),
        )
        if written is not None and written.phase is Phase.RUNNING:
            writer.record_event(ref, "Normal", "Running", written.message or "")
        return False
