"""Delivering one event to one subscriber, with Knative's retry and backoff.

A subscriber answers with at most one event. `InProcessSubscriber` calls a
handler directly; `HttpSubscriber` POSTs the event in binary mode to a real
function server, as Knative's broker does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import requests

from qiskit_operator.auth.tokens import TokenSource
from qiskit_operator.errors import OperatorError, TransientError
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import from_request, to_binary
from qiskit_operator.routing.triggers import DeliverySpec

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """The subscriber did not take the event; retrying may help."""


class Subscriber(Protocol):
    name: str

    def deliver(self, event: Envelope) -> Envelope | None: ...


class InProcessSubscriber:
    def __init__(self, name: str, handle: Callable[[Envelope], Envelope | None]) -> None:
        self.name = name
        self._handle = handle

    def deliver(self, event: Envelope) -> Envelope | None:
        try:
            return self._handle(event)
        except TransientError as error:
            raise DeliveryError(error.message) from error


_RETRYABLE = {404, 408, 409, 429} | set(range(500, 600))


class HttpSubscriber:
    def __init__(self, name: str, url: str, timeout: float = 60.0) -> None:
        self.name = name
        self.url = url
        self._timeout = timeout
        self._session = requests.Session()
        self._session.trust_env = False  # loopback or cluster-local: no proxy look-ups per call

    def deliver(self, event: Envelope, authorization: str | None = None) -> Envelope | None:
        """POST `event`; `authorization` is the sender's `Authorization` header, if any."""
        headers, body = to_binary(event)
        if authorization is not None:
            headers["Authorization"] = authorization
        try:
            response = self._session.post(
                self.url, data=body, headers=headers, timeout=self._timeout
            )
        except requests.RequestException as error:
            raise DeliveryError(f"{self.url}: {error}") from error
        if response.status_code in _RETRYABLE:
            raise DeliveryError(
                f"{self.url} answered {response.status_code}: {response.text[:200]}"
            )
        if response.status_code >= 400:
            # Knative does not retry other 4xx: the event is dropped (or dead-lettered).
            raise PermanentDeliveryError(
                f"{self.url} refused the event with {response.status_code}: {response.text[:200]}"
            )
        structured = response.headers.get("content-type", "").startswith("application/cloudevents")
        if "ce-type" not in response.headers and not structured:
            return None  # 2xx without an event: nothing to reply
        return from_request(response.headers, response.content)


class AuthenticatedSubscriber:
    """An HttpSubscriber reached with a sender's token, fetched afresh for each attempt
    (a cached one is reused until near its end; a projected file may have rotated)."""

    def __init__(self, subscriber: HttpSubscriber, token: TokenSource) -> None:
        self.name = subscriber.name
        self._subscriber = subscriber
        self._token = token

    def deliver(self, event: Envelope) -> Envelope | None:
        try:
            authorization = f"Bearer {self._token.token()}"
        except OperatorError as error:
            raise DeliveryError(f"no token to reach {self.name}: {error}") from error
        return self._subscriber.deliver(event, authorization)


class PermanentDeliveryError(DeliveryError):
    """The subscriber refused the event; retrying will not help."""


def deliver_with_retry(
    subscriber: Subscriber,
    event: Envelope,
    delivery: DeliverySpec,
    sleep: Callable[[float], None] = time.sleep,
) -> Envelope | None:
    """Deliver, retrying `delivery.retry` times with backoff; raise the last error."""
    attempt = 0
    while True:
        try:
            return subscriber.deliver(event)
        except PermanentDeliveryError:
            raise
        except DeliveryError as error:
            attempt += 1
            if attempt > delivery.retry:
                raise
            delay = delivery.delay(attempt)
            log.info(
                "delivery of %s to %s failed (%s); retry %d in %.2fs",
                event.type,
                subscriber.name,
                error,
                attempt,
                delay,
            )
            sleep(delay)
