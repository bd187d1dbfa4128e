"""uvicorn's h11 protocol with a deadline for receiving each whole request.

Used by `worker.BoundedWorker` as uvicorn's `http` protocol. uvicorn bounds only
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


class DeadlineH11Protocol(H11Protocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        app = config.app
        self.receive_seconds = (
            app.receive_seconds if isinstance(app, BufferedWsgi) else DEFAULT_RECEIVE_SECONDS
        )
        self.function = app.function if isinstance(app, BufferedWsgi) else ""
        self._receive_deadline: asyncio.TimerHandle | None = None
        self._certificate = _certificate(config)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()
        if self._certificate is not None:
            self._certificate.refresh()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
            self._disarm()  # the whole request is in (or the connection is ending)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self._arm()  # the next request on this connection gets a fresh deadline

    def _arm(self) -> None:
        self._disarm()
        self._receive_deadline = self.loop.call_later(self.receive_seconds, self._cut_off)

    def _disarm(self) -> None:
        if self._receive_deadline is not None:
            self._receive_deadline.cancel()
            self._receive_deadline = None

    def _cut_off(self) -> None:
        self._receive_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            return  # answering already: the request was received, or refused early
        # h11's state no longer matters: the connection ends here. Closing it makes the
        # application's receive() say the client left, so no thread ever sees this request.
        metrics.REQUESTS_REFUSED.labels(self.function, "408").inc()
        self.transport.write(_timeout_response(self.receive_seconds))
        self.transport.close()
