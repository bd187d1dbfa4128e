"""The resync: what lost events left behind, mended on the PingSource's ping.

Knative's PingSource calls reconcile every five minutes (knative/pingsource.yaml,
docs/resync.md); `Reconciler.resync` runs this.

- A job whose current generation no event announced, older than `resync_after`: the
  event source drops what happens while it is down or relisting, and such a job would
  wait forever without a phase. Its status is written (`transitions.asked_again`), a
  change the source does send; validate and reconcile take it up as the lost event.
- A job nothing has moved for `stalled_after` (`transitions.stalled`): the event with
  its next step was lost after it was seen. It fails, saying so. A job waiting for
  its QiskitSession's turn is not stalled: the session's maxTime ends the wait.
- A run under way (Validating, Scheduled, Retrying) with no answer for `lease`
  (`transitions.requeued`): whatever step lost its event, validate is asked for it
  again; the retry count in the status goes on.

Each QiskitBackend's status is refreshed on the same ping (`catalogue`), finished jobs
past their time to live are deleted (`expiry`), and each QiskitBudget rolls over into
a new period and settles the reservations of jobs that ended or are gone while their
settlement was lost (`budgets`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from qiskit_operator import metrics, tracing
from qiskit_operator.budgets.admitting import BudgetKeeper
from qiskit_operator.catalogue.refreshing import CatalogueRefresh
from qiskit_operator.events.payloads import JobRef
from qiskit_operator.models import Phase
from qiskit_operator.retention import Expiry
from qiskit_operator.sessions.store import waiting_turn
from qiskit_operator.status import transitions
from qiskit_operator.status.updates import PhaseUpdates
from qiskit_operator.status.writer import Decide, ListedJob

# The reconcile function's logger: operators filter its lines by that one name.
log = logging.getLogger("qiskit_operator.reconciling")


@dataclass
class Resync:
    updates: PhaseUpdates
    resync_after: timedelta = timedelta(seconds=60)
    stalled_after: timedelta | None = timedelta(hours=1)
    lease: timedelta | None = timedelta(minutes=10)
    expiry: Expiry | None = None
    catalogue: CatalogueRefresh | None = None
    budgets: BudgetKeeper | None = None

    def __call__(self, now: datetime) -> list[JobRef]:
        """Mend every job that needs it; the jobs written."""
        writer = self.updates.writer
        wrote: list[JobRef] = []
        listed = writer.jobs()
        for job in listed:
            decide = self._mending(job, now)
            if decide is not None and self._resynced(job.ref, decide):
                wrote.append(job.ref)
        if self.expiry is not None:
            self.expiry.sweep(now)
        if self.catalogue is not None:
            self.catalogue.refresh(now)
        if self.budgets is not None:
            self.budgets.roll()  # a period that ended rolls over even with no job to charge
            self.budgets.mend(listed)  # settlements a failed write or lost delete left
        return wrote

    def _mending(self, job: ListedJob, now: datetime) -> Decide | None:
        """What the resync writes for `job` as listed (decided again when written), or
        None: it is alive, or too young for its own event to be given up on."""
        ref = job.ref
        if transitions.asked_again(job.status, ref.generation, now) is not None:
            if job.created is not None and job.created >= now - self.resync_after:
                return None
            return partial(transitions.asked_again, generation=ref.generation, now=now)
        after = self.stalled_after
        if waiting_turn(job.status, ref.generation):
            after = None  # a session's queue is no stall: its maxTime ends the wait
        if after is not None and transitions.stalled(job.status, ref, now, after) is not None:
            return partial(transitions.stalled, job=ref, now=now, after=after)
        lease = self.lease
        if lease is not None and transitions.requeued(job.status, ref, now, lease) is not None:
            return partial(transitions.requeued, job=ref, now=now, lease=lease)
        return None

    def _resynced(self, ref: JobRef, decide: Decide) -> bool:
        """Write one job's resync (decided again on its status as read now), in that
        job's trace, not the ping's."""
        writer = self.updates.writer
        with tracing.job_trace(ref):
            written = self.updates(ref, decide)
            if written is None:
                return False  # it moved meanwhile, or is gone
            message = written.message or ""
            if written.phase is Phase.FAILED:
                metrics.RESYNCS.labels("failed_stalled").inc()
                writer.record_event(ref, "Warning", "Stalled", message)
                tracing.end_job_span(ref, written.start_time, written.phase.value, message)
            elif written.requeued_for(ref.generation):
                metrics.RESYNCS.labels("requeued").inc()
                writer.record_event(ref, "Warning", "Requeued", message)
            else:
                metrics.RESYNCS.labels("asked_again").inc()
                writer.record_event(ref, "Warning", "Resynced", message)
            log.warning("%s: %s", ref.key, message)
            return True
