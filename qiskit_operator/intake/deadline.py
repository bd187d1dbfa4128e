"""uvicorn's HTTP/1.1 protocols with a deadline for receiving each whole request.

Used by `worker.BoundedWorker` as uvicorn's `http` protocol: the httptools one (a
C parser) where httptools is installed, as in validate's and reconcile's images,
else the h11 one (pure Python: a cheap request costs about a sixth more CPU). uvicorn bounds only
the idle time between requests; a client that sends its headers or body a few
bytes at a time could hold its connection for ever. Here a clock starts when a
connection opens or its last response ends, and stops once the request's last
byte has arrived; when it runs out first, the client gets a 408 and the connection
is closed. Nothing here holds a thread: a slow client costs a socket and a timer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # no httptools: DeadlineH11Protocol serves
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

from qiskit_operator import metrics
from qiskit_operator.intake.buffering import BufferedWsgi
from qiskit_operator.intake.certificates import ServingCertificate

DEFAULT_RECEIVE_SECONDS = 15.0


def _timeout_response(seconds: float) -> bytes:
    body = json.dumps(
        {"error": f"the request did not arrive whole within {seconds:g} s; send it faster"}
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


# One per worker process: the context uvicorn made, and the files it came from.
_certificates: dict[int, ServingCertificate] = {}


def _certificate(config: Config) -> ServingCertificate | None:
    if config.ssl is None or not config.ssl_certfile:
        return None
    found = _certificates.get(id(config.ssl))
    if found is None:
        keyfile = str(config.ssl_keyfile) if config.ssl_keyfile else None
        found = ServingCertificate(config.ssl, str(config.ssl_certfile), keyfile)
        _certificates[id(config.ssl)] = found
    return found


class _ReceiveClock:
    """One connection's deadline: armed when it opens or a response ends, disarmed once
    a whole request is in; run out first, it answers 408 and closes the connection."""

    def __init__(self, protocol: H11Protocol, config: Config) -> None:
        self.protocol = protocol
        app = config.app
        self.seconds = (
            app.receive_seconds if isinstance(app, BufferedWsgi) else DEFAULT_RECEIVE_SECONDS
        )
        self.function = app.function if isinstance(app, BufferedWsgi) else ""
        self._timer: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        self.disarm()
        self._timer = self.protocol.loop.call_later(self.seconds, self._cut_off)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _cut_off(self) -> None:
        self._timer = None
        transport, cycle = self.protocol.transport, self.protocol.cycle
        if transport.is_closing():
            return
        if cycle is not None and cycle.response_started:
            return  # answering already: the request was received, or refused early
        # The parser's state no longer matters: the connection ends here. Closing it
        # makes the application's receive() say the client left, so no thread ever
        # sees this request.
        metrics.REQUESTS_REFUSED.labels(self.function, "408").inc()
        transport.write(_timeout_response(self.seconds))
        transport.close()


class DeadlineH11Protocol(H11Protocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._clock = _ReceiveClock(self, config)
        self._certificate = _certificate(config)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._clock.arm()
        if self._certificate is not None:
            self._certificate.refresh()

    def connection_lost(self, exc: Exception | None) -> None:
        self._clock.disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
            self._clock.disarm()  # the whole request is in (or the connection is ending)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self._clock.arm()  # the next request on this connection gets a fresh deadline


if HttpToolsProtocol is not None:

    class DeadlineHttpToolsProtocol(HttpToolsProtocol):
        """The same deadline on uvicorn's httptools protocol, which has no parser state
        to ask: it counts requests begun, received whole and answered instead."""

        def __init__(
            self,
            config: Config,
            server_state: ServerState,
            app_state: dict[str, Any],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self._clock = _ReceiveClock(self, config)  # type: ignore[arg-type]
            self._certificate = _certificate(config)
            self._receiving = False  # a request has begun and is not in whole yet
            self._unanswered = 0  # requests in whole, their responses not yet complete

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self._clock.arm()
            if self._certificate is not None:
                self._certificate.refresh()

        def connection_lost(self, exc: Exception | None) -> None:
            self._clock.disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            self._receiving = True
            super().on_message_begin()

        def on_message_complete(self) -> None:
            self._receiving = False
            self._unanswered += 1
            self._clock.disarm()  # the whole request is in
            super().on_message_complete()

        def on_response_complete(self) -> None:
            self._unanswered = max(0, self._unanswered - 1)
            super().on_response_complete()
            # Not while a pipelined request, in whole already, waits for its answer.
            if not self.transport.is_closing() and (self._receiving or not self._unanswered):
                self._clock.arm()  # the next request on this connection gets a fresh deadline


def http_protocol() -> type[asyncio.Protocol]:
    """httptools' protocol where httptools is installed, else h11's."""
    if HttpToolsProtocol is not None:
        return DeadlineHttpToolsProtocol
    return DeadlineH11Protocol
