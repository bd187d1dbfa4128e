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
    result = []
    replaced = False
    for condition in conditions:
        if condition.type != type_:
            result.append(condition)
            continue
        replaced = True
        moved = condition.status != status
        result.append(
            Condition(
                type=type_,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=now if moved else condition.last_transition_time,
                observed_generation=generation,
            )
        )
    if not replaced:
        result.append(
            Condition(
                type=type_,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=now,
                observed_generation=generation,
            )
        )
    return result
