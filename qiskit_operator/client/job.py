"""`OperatorJob`: what `Sampler.run` and `Estimator.run` return, a Qiskit primitive job
over the QiskitJobs of one call.

Each pub of the call is one QiskitJob. With one pub, `job_id()` is that QiskitJob's
name; with several, they are named `<job_id>-0`, `<job_id>-1`, ..., and all carry
the label quantum.io/primitive-run=<job_id>. `result()` waits on each with a watch
and reads its full result; `cancel()` sets their spec.cancel, which stops each
wherever it is and keeps what finished (docs/client.md, docs/budgets.md#cancel).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qiskit.primitives import BasePrimitiveJob, PrimitiveResult
from qiskit.providers import JobStatus

from qiskit_operator.client.decoding import pub_result
from qiskit_operator.client.pubs import PubRequest
from qiskit_operator.client.results import OperatorResult, plot_layout
from qiskit_operator.client.runners import JobRunner
from qiskit_operator.errors import OperatorError
from qiskit_operator.models import QiskitJob

# The order a call's jobs are reported in: the least advanced job says how it stands.
_STATUS = {
    "Pending": JobStatus.INITIALIZING,
    "Validating": JobStatus.VALIDATING,
    "Scheduled": JobStatus.QUEUED,
    "Queued": JobStatus.QUEUED,
    "Retrying": JobStatus.RUNNING,
    "Running": JobStatus.RUNNING,
    "Completed": JobStatus.DONE,
    "Failed": JobStatus.ERROR,
    "Cancelled": JobStatus.CANCELLED,
}
_RANK = [
    JobStatus.INITIALIZING,
    JobStatus.VALIDATING,
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.DONE,
]


class JobFailedError(OperatorError, RuntimeError):
    """A QiskitJob of the call ended Failed or was cancelled; the message is its own."""


class OperatorJob(BasePrimitiveJob[PrimitiveResult[Any], JobStatus]):  # type: ignore[misc]
    def __init__(
        self,
        job_id: str,
        runner: JobRunner,
        requests: Sequence[PubRequest],
        timeout: float | None = None,
    ) -> None:
        super().__init__(job_id)
        self._runner = runner
        self._requests = list(requests)
        self._timeout = timeout
        self._result: OperatorResult | None = None

    @property
    def names(self) -> list[str]:
        """The QiskitJobs of this call, one per pub, in pub order."""
        return [request.name for request in self._requests]

    @property
    def namespace(self) -> str:
        return self._runner.namespace

    def result(self, timeout: float | None = None) -> OperatorResult:
        """Waits for each job (watching, `timeout` seconds at most for each; None: the
        primitive's own timeout) and returns their results in pub order. JobFailedError
        when one failed or was cancelled, with its message."""
        if self._result is None:
            limit = timeout if timeout is not None else self._timeout
            results = []
            for request in self._requests:
                job = self._runner.wait(request.name, limit)
                self._check(request.name, job)
                results.append(pub_result(request, self._runner.result_document(request.name)))
            self._result = OperatorResult(
                results,
                metadata={"version": 2},
                layouts=[plot_layout(request) for request in self._requests],
            )
        return self._result

    def _check(self, name: str, job: QiskitJob | None) -> None:
        where = f"qiskitjob {self.namespace}/{name}"
        if job is None:
            raise JobFailedError(f"{where} was cancelled (deleted) before it completed")
        status = job.status
        phase = str(status.phase) if status is not None and status.phase else "Unknown"
        if phase != "Completed" and job.spec.cancel:
            raise JobFailedError(f"{where} was cancelled (spec.cancel) before it completed")
        if phase != "Completed":
            message = (status.message if status is not None else None) or "no message"
            raise JobFailedError(f"{where} ended {phase}: {message}")

    def status(self) -> JobStatus:
        if not self._requests:
            return JobStatus.DONE
        found = [_status_of(self._runner.current(name)) for name in self.names]
        for final in (JobStatus.ERROR, JobStatus.CANCELLED):
            if final in found:
                return final
        return min(found, key=_RANK.index)

    def progress(self) -> str:
        """How many of the call's pubs have completed, e.g. 3/10 pubs; each pub's job
        has its own status.progress."""
        found = [_status_of(self._runner.current(name)) for name in self.names]
        return f"{found.count(JobStatus.DONE)}/{len(found)} pubs"

    def done(self) -> bool:
        return bool(self.status() == JobStatus.DONE)

    def running(self) -> bool:
        return bool(self.status() == JobStatus.RUNNING)

    def cancelled(self) -> bool:
        return bool(self.status() == JobStatus.CANCELLED)

    def in_final_state(self) -> bool:
        return self.status() in (JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED)

    def cancel(self) -> None:
        """Cancels the call's QiskitJobs that have not finished (spec.cancel: each stops
        wherever it is and ends Cancelled); what has finished is kept, results and all."""
        for name in self.names:
            current = self._runner.current(name)
            if _status_of(current) not in (JobStatus.DONE, JobStatus.ERROR):
                self._runner.cancel(name)


def _status_of(job: QiskitJob | None) -> JobStatus:
    if job is None:
        return JobStatus.CANCELLED
    phase = job.status.phase if job.status is not None else None
    if job.spec.cancel and str(phase) not in ("Completed", "Failed"):
        return JobStatus.CANCELLED  # asked for; reconcile writes Cancelled
    return _STATUS.get(str(phase) if phase else "Pending", JobStatus.INITIALIZING)
