"""Sending an event to the Broker on our own, outside the one reply a request allows.

Execute's `job.progressed` events go this way while a run is under way
(`executing`): posted to the Broker's ingress (QOP_PROGRESS_SINK) with execute's
own token for the Broker's audience, which an EventPolicy admits for that type
only (knative/eventpolicies.yaml). Progress is advisory, so sending never holds
up or fails the run: each post runs on a thread of its own with a short timeout,
a report made while one is still in flight is dropped (the next carries a higher
count), and a failure is logged, not raised.
"""

from __future__ import annotations

import logging
import threading

import requests

from qiskit_operator.auth.tokens import TokenSource, authorization
from qiskit_operator.errors import OperatorError
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import to_binary

log = logging.getLogger(__name__)


class BrokerPublisher:
    def __init__(self, url: str, token: TokenSource | None = None, timeout: float = 2.0) -> None:
        self.url = url
        self._token = token
        self._timeout = timeout
        self._busy = threading.Lock()
        self._session = requests.Session()
        self._session.trust_env = False  # cluster-local or loopback: no proxy
        self.sent = 0
        self.dropped = 0  # reported while a send was in flight
        self.failed = 0  # refused by the Broker, or never reached it

    def __call__(self, event: Envelope) -> None:
        if not self._busy.acquire(blocking=False):
            self.dropped += 1
            return
        try:
            threading.Thread(
                target=self._post, args=(event,), name="publish-progress", daemon=True
            ).start()
        except RuntimeError:  # no thread to be had: drop this one, as when busy
            self._busy.release()
            self.dropped += 1

    def _post(self, event: Envelope) -> None:
        try:
            headers, body = to_binary(event)
            headers.update(authorization(self._token))
            answer = self._session.post(self.url, data=body, headers=headers, timeout=self._timeout)
            if answer.status_code >= 300:
                self.failed += 1
                log.warning(
                    "the Broker refused %s with %d: %s",
                    event.type,
                    answer.status_code,
                    answer.text[:200],
                )
            else:
                self.sent += 1
        except (requests.RequestException, OperatorError) as error:
            self.failed += 1
            log.warning("could not send %s to %s: %s", event.type, self.url, error)
        finally:
            self._busy.release()
