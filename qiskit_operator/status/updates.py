"""Every job status write reconcile makes, counted as it lands.

`StatusWriter.update` decides and writes (again on a conflict); `PhaseUpdates` wraps
it with what each move into a new phase owes: the phase-transition metric, one log
line an operator reads in `kubectl logs`, and, for a final phase, a hook (the job's
budget settles there, `budgets.admitting`). Shared by the handlers of events, of the
resync and of the hardware poll, so that a job's move counts once whoever wrote it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from qiskit_operator import metrics
from qiskit_operator.events.payloads import JobRef
from qiskit_operator.models import JobStatus, Phase
from qiskit_operator.status.writer import Decide, StatusWriter

# The reconcile function's logger: operators filter its lines by that one name.
log = logging.getLogger("qiskit_operator.reconciling")
Ended = Callable[[JobRef, JobStatus], None]


class PhaseUpdates:
    def __init__(self, writer: StatusWriter, ended: Ended | None = None) -> None:
        self.writer = writer
        self.ended = ended

    def __call__(self, ref: JobRef, decide: Decide) -> JobStatus | None:
        """`writer.update`, counting the phase a write moves the job into."""
        before: Phase | None = None

        def deciding(current: JobStatus | None) -> JobStatus | None:
            nonlocal before  # the phase the write replaces: the last try's, after conflicts
            before = current.phase if current else None
            return decide(current)

        written = self.writer.update(ref, deciding)
        if written is None or written.phase is None:
            return written
        if written.phase.is_terminal and written.phase != before and self.ended is not None:
            self.ended(ref, written)
        # Each retry enters Retrying anew (the attempt in between ran), so each counts.
        if written.phase != before or written.phase is Phase.RETRYING:
            metrics.PHASE_TRANSITIONS.labels(written.phase.value).inc()
            # The job, uid and trace id come from the event's log context.
            log.info(
                "%s: %s -> %s: %s",
                ref.key,
                before.value if before else "new",
                written.phase.value,
                written.message or "",
            )
        return written
