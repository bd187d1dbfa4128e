"""Kubernetes-style conditions: set one, keeping lastTransitionTime when unchanged."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from qiskit_operator.models.status import Condition


def set_condition(
    conditions: list[Condition],
    *,
    type_: str,
    status: Literal["True", "False", "Unknown"],
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[Condition]:
    previous = next((c for c in conditions if c.type == type_), None)
    unchanged = previous is not None and previous.status == status
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=previous.last_transition_time if unchanged and previous else now,
        observed_generation=generation,
    )
    if previous is None:
        return [*conditions, updated]
    # Keep the condition where it was, so the list's order is stable.
    return [updated if c.type == type_ else c for c in conditions]
