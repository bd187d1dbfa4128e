"""Job phases and the order they move in.

A phase never goes backwards because of a late or duplicated event; this
module is where "backwards" is defined.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    PENDING = "Pending"
    VALIDATING = "Validating"
    SCHEDULED = "Scheduled"
    RETRYING = "Retrying"
    QUEUED = "Queued"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED})
REMOTE = frozenset({Phase.QUEUED, Phase.RUNNING})
"""A provider holds the job (docs/hardware-jobs.md): the ping observes it, no lease."""

# Retrying ranks above Scheduled: a retried job never reads as merely scheduled again.
# Queued and Running above Retrying: a submission retried after a transient failure
# still moves on into the provider's queue.
_RANK = {
    Phase.PENDING: 0,
    Phase.VALIDATING: 1,
    Phase.SCHEDULED: 2,
    Phase.RETRYING: 3,
    Phase.QUEUED: 4,
    Phase.RUNNING: 5,
    Phase.COMPLETED: 6,
    Phase.FAILED: 6,
    Phase.CANCELLED: 6,
}


def may_move(current: Phase | None, target: Phase) -> bool:
    """Whether a job of the same generation may go from `current` to `target`."""
    if current is None:
        return True
    if current.is_terminal:
        return False
    return target.rank >= current.rank
