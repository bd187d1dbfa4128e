"""An in-memory Broker: every event goes to every Trigger whose filter matches,
and each reply goes back into the Broker, as Knative's Broker does.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from qiskit_operator import tracing
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.routing.deadletter import dead_letter
from qiskit_operator.routing.delivery import DeliveryError, Subscriber, deliver_with_retry
from qiskit_operator.routing.routes import Routes
from qiskit_operator.routing.triggers import Trigger

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    trigger: str
    event_type: str
    subject: str | None
    error: str


class LocalBroker:
    def __init__(self, routes: Routes, sleep: Callable[[float], None] | None = None) -> None:
        self._routes = routes
        self._queue: deque[Envelope] = deque()
        self._sleep = sleep
        self.failures: list[FailedDelivery] = []
        self.delivered: list[tuple[str, Envelope]] = []

    def publish(self, event: Envelope) -> None:
        self._queue.append(event)

    def publish_now(self, event: Envelope) -> None:
        """Deliver `event` at once, from inside a delivery still under way: execute's
        progress, which reconcile should write while the run goes on, not after it.
        Replies to it wait in the queue as any do."""
        for trigger, subscriber in self._routes.matching(event):
            self._deliver(trigger, subscriber, event)

    def run_until_idle(self) -> None:
        while self._queue:
            event = self._queue.popleft()
            for trigger, subscriber in self._routes.matching(event):
                self._deliver(trigger, subscriber, event)

    def _deliver(self, trigger: Trigger, subscriber: Subscriber, event: Envelope) -> None:
        with tracing.delivering(event):
            self._deliver_traced(trigger, subscriber, event)

    def _deliver_traced(self, trigger: Trigger, subscriber: Subscriber, event: Envelope) -> None:
        try:
            kwargs = {} if self._sleep is None else {"sleep": self._sleep}
            reply = deliver_with_retry(subscriber, event, trigger.delivery, **kwargs)
        except DeliveryError as error:
            log.warning("dropping %s for %s after retries: %s", event.type, trigger.name, error)
            self.failures.append(
                FailedDelivery(trigger.name, event.type, event.subject, str(error))
            )
            letter = dead_letter(event, trigger.name, trigger.subscriber, str(error))
            if letter is not None:
                self.publish(letter)
            return
        self.delivered.append((trigger.name, event))
        if reply is not None:
            self.publish(reply)
