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
    COMPLETED = "Completed"
    FAILED = "Failed"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Phase.COMPLETED, Phase.FAILED})

# Retrying ranks above Scheduled: a retried job never reads as merely scheduled again.
_RANK = {
    Phase.PENDING: 0,
    Phase.VALIDATING: 1,
    Phase.SCHEDULED: 2,
    Phase.RETRYING: 3,
    Phase.COMPLETED: 4,
    Phase.FAILED: 4,
}


def may_move(current: Phase | None, target: Phase) -> bool:
    """Whether a job of the same generation may go from `current` to `target`."""
    if current is None:
        return True
    if current.is_terminal:
        return False
    return target.rank >= current.rank
