"""Triggers and the subscribers they name, checked to fit: what a Broker routes by."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qiskit_operator.events.envelope import Envelope
from qiskit_operator.routing.delivery import Subscriber
from qiskit_operator.routing.triggers import Trigger


@dataclass(frozen=True, slots=True)
class Routes:
    triggers: list[Trigger]
    subscribers: Mapping[str, Subscriber]

    def __post_init__(self) -> None:
        missing = {t.subscriber for t in self.triggers} - set(self.subscribers)
        if missing:
            raise ValueError(f"no subscriber for Trigger targets: {', '.join(sorted(missing))}")

    def matching(self, event: Envelope) -> list[tuple[Trigger, Subscriber]]:
        """Every Trigger whose filter takes `event`, with its subscriber, in manifest order."""
        return [
            (t, self.subscribers[t.subscriber]) for t in self.triggers if t.filter.matches(event)
        ]
