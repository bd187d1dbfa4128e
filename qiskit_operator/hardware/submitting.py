"""Execute's half of hardware jobs: submit once, poll on the ping, cancel on delete.

Called by execute (`executing.Executor`). Never waits on a queue:

- `submit` records the intent (with the tag the provider job will carry) before
  it submits, and the provider's job id right after, then answers `job.submitted`.
  A redelivered `job.validated` finds the id and answers the same; one whose
  earlier delivery died between the submit and the record finds the provider's
  job by its tag. Either way the provider gets the job once.
- `poll`, on reconcile's `hardware.poll` (the ping), asks the provider about
  every outstanding job and records what it found: its place in the queue, that
  it runs, its outcome (summarised and stored as any result), its failure, or
  that `maxExecutionTime` since submission ran out (the job is cancelled).
- `cancel`, on the job's deletion, cancels its provider job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from qiskit_operator.circuits.declarations import SizeLimits
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.events import payloads
from qiskit_operator.execution import messages
from qiskit_operator.execution.aer import Outcome, Workload
from qiskit_operator.hardware.credentials import (
    TOKEN_KEY,
    SecretReader,
    Token,
    how_to_create,
    token_for,
)
from qiskit_operator.hardware.records import RecordStore, RemoteRecord, tag_of
from qiskit_operator.providers import REMOTE_FAMILIES
from qiskit_operator.providers.remote import RemoteProvider

__all__ = ["REMOTE_FAMILIES", "HardwareJobs"]

log = logging.getLogger(__name__)

Finish = Callable[[payloads.JobValidated, Outcome], payloads.JobCompleted]


class HardwareJobs:
    def __init__(
        self,
        records: RecordStore,
        providers: dict[str, RemoteProvider],
        finish: Finish,
        sizes: SizeLimits,
        secrets: SecretReader,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`finish` summarises and stores a completed job's outcome, as execute does
        for any run; `secrets` holds the provider accounts' tokens."""
        self.records = records
        self.secrets = secrets
        self.providers = providers
        self._finish = finish
        self._sizes = sizes
        self._clock = clock

    def submit(
        self, work: payloads.JobValidated, message: messages.WorkloadMessage
    ) -> payloads.JobSubmitted:
        request = work.execution
        record = self.records.read(work.job)
        if record is not None and record.job_id is not None:
            log.info("%s: already submitted as %s", work.job.key, record.job_id)
            return _submitted(record, work.backend)
        provider = self._provider(request.family)
        token = self._token(request.credentials)
        tag = tag_of(work.job)
        job_id = None
        if record is None:
            record = RemoteRecord(
                job=work.job, tag=tag, family=request.family, device=request.device, work=work
            )
            self.records.write(record)  # the intent first: a crash after submit is found
        else:
            job_id = provider.find(tag)  # an earlier delivery died between submit and record
        if job_id is None:
            try:
                job_id = provider.submit(self._workload(message), tag, token)
            except UserError as error:
                refusal = error
                if error.reason == "CredentialsInvalid" and request.credentials is not None:
                    refusal = UserError(
                        f"{error.message}: fix key {TOKEN_KEY!r} of Secret "
                        f"{request.credentials.namespace}/{request.credentials.name}",
                        reason=error.reason,
                    )
                record.state, record.reason, record.message = (
                    "failed",
                    refusal.reason,
                    refusal.message,
                )
                self.records.write(record)
                raise refusal from error
        now = self._clock()
        record.job_id, record.state, record.submitted_at = job_id, "queued", now
        if request.max_execution_seconds is not None:
            record.deadline = now + request.max_execution_seconds
        self.records.write(record)
        log.info("%s: submitted to %s as %s", work.job.key, request.device, job_id)
        return _submitted(record, work.backend)

    def _token(self, request: payloads.CredentialsRequest | None) -> Token | None:
        if request is None:
            return None
        try:
            return token_for(self.secrets, request)
        except UserError as error:
            raise UserError(
                f"the job's provider credentials: {error.message}; {how_to_create(request)}",
                reason=error.reason,
            ) from error

    def poll(self) -> int:
        """Ask the providers about every outstanding job; how many records changed."""
        changed = 0
        for record in self.records.outstanding():
            if record.job_id is None or record.work is None:
                continue  # an intent whose submit is still under way, or died: redelivery mends it
            try:
                if self._observe(record):
                    self.records.write(record)
                    changed += 1
            except TransientError as error:
                log.warning("%s: polling %s failed: %s", record.job.key, record.job_id, error)
        return changed

    def cancel(self, namespace: str, uid: str) -> int:
        """The job was deleted: cancel its provider jobs still going (how many), and
        forget its records."""
        cancelled = 0
        for record in self.records.of_uid(namespace, uid):
            if record.finished or record.job_id is None:
                continue
            self._provider(record.family).cancel(record.job_id)
            cancelled += 1
        self.records.remove_uid(namespace, uid)  # no status is left to write
        return cancelled

    def _observe(self, record: RemoteRecord) -> bool:
        assert record.job_id is not None and record.work is not None
        provider = self._provider(record.family)
        before = (record.state, record.queue_position)
        if record.deadline is not None and self._clock() > record.deadline:
            provider.cancel(record.job_id)
            limit = record.work.execution.max_execution_seconds
            record.state, record.reason = "failed", "TimeLimit"
            record.message = (
                f"job {record.job_id} did not finish within execution.maxExecutionTime "
                f"({limit:g} s from submission) and was cancelled; raise the limit, or pick a "
                "backend with a shorter queue"
            )
            return True
        status = provider.status(record.job_id)
        if status.state == "completed":
            outcome = provider.result(record.job_id)
            record.completed = self._finish(record.work, outcome)
            record.state = "completed"
        elif status.state == "failed":
            record.state, record.reason = "failed", "RemoteJobFailed"
            record.message = f"job {record.job_id} failed on {record.device}: {status.message}"
        elif status.state == "cancelled":
            record.state, record.message = "cancelled", status.message
        else:
            record.state = status.state
            record.queue_position = status.queue_position
            record.estimated_start = status.estimated_start
        return (record.state, record.queue_position) != before

    def _provider(self, family: str) -> RemoteProvider:
        provider = self.providers.get(family)
        if provider is None:
            raise UserError(
                f"no provider with a queue is set up for {family}", reason="UnsupportedBackend"
            )
        return provider

    def _workload(self, message: messages.WorkloadMessage) -> Workload:
        return messages.workload_of(message, self._sizes)


def _submitted(record: RemoteRecord, backend: str) -> payloads.JobSubmitted:
    assert record.job_id is not None
    return payloads.JobSubmitted(
        job=record.job,
        job_id=record.job_id,
        backend=backend,
        queue_position=record.queue_position,
        estimated_start=record.estimated_start,
    )
