"""What a provider with a queue offers: submit, look up, poll, collect, cancel.

Implemented by the fake remote family (`fake_remote`), which the tests use; the
hardware job lifecycle (`hardware.submitting`) is written against this alone.
Every call returns at once: nothing waits for a queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from qiskit_operator.execution.aer import Outcome, Workload
from qiskit_operator.hardware.credentials import Token

ProviderState = Literal["queued", "running", "completed", "failed", "cancelled"]


@dataclass(frozen=True, slots=True)
class RemoteStatus:
    state: ProviderState
    queue_position: int | None = None
    estimated_start: float | None = None  # epoch seconds
    message: str | None = None


class RemoteProvider(Protocol):
    def submit(self, work: Workload, tag: str, token: Token | None) -> str:
        """Submit `work` tagged `tag` with the account's `token`; the provider's job id.
        UserError for a refusal that says what to change (device offline, queue full,
        reason CredentialsInvalid for a token refused), TransientError else."""
        ...

    def find(self, tag: str) -> str | None:
        """The id of the job submitted with `tag`, if any: a submission whose id was
        never recorded is found again, never submitted twice."""
        ...

    def status(self, job_id: str) -> RemoteStatus: ...

    def result(self, job_id: str) -> Outcome: ...

    def cancel(self, job_id: str) -> None: ...
