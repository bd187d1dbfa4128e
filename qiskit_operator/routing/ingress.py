"""A Broker on loopback: an HTTP ingress that takes CloudEvents and a dispatcher that
routes them by the Trigger manifests to function servers, as Knative's Broker does.

Takes an event with 202 at once, delivers it to every matching subscriber with
the Trigger's retries and backoff, and puts each reply back in; an event that
cannot be delivered becomes a dead letter (see `deadletter`). With `BrokerAuth`
(routing/senders.py) it checks senders' tokens and the EventPolicies, and delivers
with each Trigger's token, as Knative's Broker does with OIDC on. Used by the e2e
tests and `qop broker`, where ApiServerSource (or `qop watch`) sends here.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from qiskit_operator import tracing
from qiskit_operator.auth.verifying import SenderRefusedError
from qiskit_operator.errors import TransientError
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import NotACloudEventError, from_request
from qiskit_operator.loopback import KeepAliveHandler
from qiskit_operator.routing.deadletter import dead_letter
from qiskit_operator.routing.delivery import (
    AuthenticatedSubscriber,
    DeliveryError,
    HttpSubscriber,
    Subscriber,
    deliver_with_retry,
)
from qiskit_operator.routing.routes import Routes
from qiskit_operator.routing.senders import BrokerAuth, trigger_subject
from qiskit_operator.routing.triggers import Trigger

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse

log = logging.getLogger(__name__)


class BrokerServer:
    def __init__(
        self,
        routes: Routes,
        host: str = "127.0.0.1",
        port: int = 0,
        dispatchers: int = 8,
        auth: BrokerAuth | None = None,
        max_body_bytes: int = 8 << 20,
    ) -> None:
        self._routes = routes
        self._auth = auth
        # QOP_MAX_REQUEST_BYTES: a bigger event is refused before it is read whole.
        self._max_body_bytes = max_body_bytes
        self._work: queue.Queue[tuple[Trigger, Subscriber, Envelope] | None] = queue.Queue()
        self._dispatchers = [
            threading.Thread(target=self._dispatch, daemon=True, name=f"broker-dispatch-{i}")
            for i in range(dispatchers)
        ]
        self._server: BaseWSGIServer = make_server(
            host, port, self._app, threaded=True, request_handler=KeepAliveHandler
        )
        self.url = f"http://{host}:{self._server.server_port}/"
        self.received = 0
        self.dead_letters: list[Envelope] = []
        # The latest deliveries a subscriber answered, as (Trigger, event id): what a test
        # waits for to know that a function has finished with an event.
        self.delivered: deque[tuple[str, str]] = deque(maxlen=1024)
        self.refused: list[tuple[str, str]] = []  # (sender, event type) no policy admitted

    def start(self) -> BrokerServer:
        threading.Thread(target=self._server.serve_forever, daemon=True, name="broker").start()
        for thread in self._dispatchers:
            thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        for _ in self._dispatchers:
            self._work.put(None)

    def publish(self, event: Envelope) -> None:
        self.received += 1
        for trigger, subscriber in self._routes.matching(event):
            self._work.put((trigger, subscriber, event))

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        response = self._answer(Request(environ))
        body: Iterable[bytes] = response(environ, start_response)
        return body

    def _answer(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(
                '{"error": "POST CloudEvents here"}', status=405, mimetype="application/json"
            )
        sender = None
        if self._auth is not None:
            try:
                sender = self._auth.verifier.subject(request.headers.get("Authorization"))
            except SenderRefusedError as refused:
                return _error(refused.status, refused.message)
            except TransientError as error:
                log.warning("cannot check the sender's token: %s", error.message)
                return _error(503, error.message)
        # From Content-Length before reading, or while reading a chunked body: werkzeug
        # stops a chunked body at the maximum without saying so, hence one byte more.
        request.max_content_length = self._max_body_bytes + 1
        try:
            body = request.get_data()
        except RequestEntityTooLarge:
            body = None
        if body is None or len(body) > self._max_body_bytes:
            too_big = f"the event is over the limit of {self._max_body_bytes} bytes; send less"
            # The rest of the body is unread, so the connection cannot carry another request.
            return Response(
                json.dumps({"error": too_big}),
                status=413,
                mimetype="application/json",
                headers={"Connection": "close"},
            )
        try:
            event = from_request(dict(request.headers), body)
        except NotACloudEventError as error:
            return _error(400, str(error))
        if sender is not None and not self._admits(sender, event):
            return _error(403, f"no EventPolicy of this Broker admits {event.type} from {sender}")
        self.publish(event)
        return Response(status=202)

    def _admits(self, sender: str, event: Envelope) -> bool:
        assert self._auth is not None
        if self._auth.policy.admits(sender, event):
            return True
        log.warning("refused %s from %s: no EventPolicy admits it", event.type, sender)
        self.refused.append((sender, event.type))
        return False

    def _deliver(
        self, trigger: Trigger, subscriber: Subscriber, event: Envelope
    ) -> Envelope | None:
        """One delivery with its retries; what cannot be delivered is dead-lettered."""
        token = None if self._auth is None else self._auth.tokens.for_trigger(trigger)
        if token is not None and isinstance(subscriber, HttpSubscriber):
            subscriber = AuthenticatedSubscriber(subscriber, token)
        try:
            reply = deliver_with_retry(subscriber, event, trigger.delivery)
        except DeliveryError as error:
            log.warning("%s: %s not delivered after retries: %s", trigger.name, event.type, error)
            letter = dead_letter(event, trigger.name, trigger.subscriber, str(error))
            if letter is not None:
                self.dead_letters.append(letter)
                self.publish(letter)
            raise
        self.delivered.append((trigger.name, event.id))
        return reply

    def _dispatch(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            trigger, subscriber, event = item
            try:
                with tracing.delivering(event):
                    reply = self._deliver(trigger, subscriber, event)
            except DeliveryError:
                continue
            # A reply comes back in as the Trigger's identity, as Knative's filter sends it.
            if reply is not None and (
                self._auth is None or self._admits(trigger_subject(trigger), reply)
            ):
                self.publish(reply)


def _error(code: int, message: str) -> Response:
    return Response(json.dumps({"error": message}), status=code, mimetype="application/json")
