"""The HTTP face every function shares: one CloudEvent in, at most one out.

functions-framework's `cloud_event` signature cannot reply, so each function
uses the `http` signature and this adapter: `GET /health`, `GET /ready`,
`GET /metrics` (Prometheus, where METRICS_ADDR says: `metrics`), and `POST` of
a CloudEvent (binary or structured) answered in binary mode (Knative's
reply contract). Bad requests get a 400 with a JSON error, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

import flask
import msgspec

from qiskit_operator import __version__, metrics, tracing
from qiskit_operator.auth.verifying import SenderRefusedError, SenderVerifier
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import NotACloudEventError, from_request, to_binary
from qiskit_operator.events.payloads import PayloadError

log = logging.getLogger(__name__)


BodyRoute = Callable[[bytes], tuple[int, bytes]]
"""A request's body in; its status and JSON answer out."""


class EventHandler(Protocol):
    def handle(self, event: Envelope) -> Envelope | None: ...

    def ready(self) -> bool: ...


def _json(code: int, **body: object) -> flask.Response:
    response = flask.jsonify(body)
    response.status_code = code
    return response


class FunctionEndpoint:
    """The `http`-signature callable a functions/*/main.py exposes."""

    def __init__(
        self,
        name: str,
        handler: EventHandler,
        routes: Mapping[tuple[str, str], Callable[[flask.Request], flask.Response]] | None = None,
        event_routes: Mapping[str, Callable[[Envelope], Envelope | None]] | None = None,
        metrics_addr: str = "",
        verifier: SenderVerifier | None = None,
        body_routes: Mapping[tuple[str, str], BodyRoute] | None = None,
    ) -> None:
        self.name = name
        self.handler = handler
        self.routes = dict(routes or {})
        # Routes that need nothing of a request but its body: `qop serve` calls them
        # without Flask (answer_body); Flask's path (`routes`) serves them elsewhere.
        self.body_routes = dict(body_routes or {})
        # Other paths that take CloudEvents, e.g. reconcile's /dead-letter.
        self.event_routes = dict(event_routes or {})
        # METRICS_ADDR (settings.metrics_addr), as the entry point read it.
        self.metrics = metrics.MetricsAddress.parse(metrics_addr)
        metrics.expect(name)
        # Who may send CloudEvents (auth.sender_verifier); None: events are believed.
        self.verifier = verifier
        if verifier is not None:  # at zero, so that a first forged event shows as an increase
            metrics.SENDERS_REFUSED.labels(name, "401", "no_token")
            metrics.SENDERS_REFUSED.labels(name, "403", "unexpected_sender")

    def answer_body(
        self, method: str, path: str, server: tuple[str, int | None] | None, body: bytes
    ) -> tuple[int, bytes] | None:
        """A body route's status and JSON answer, or None: then it is Flask's to serve.

        Called by `intake.buffering` for each request, before the WSGI application:
        Flask, functions-framework and the WSGI environ cost a cheap request as much
        as validating its circuit does (benchmarks/validate.py)."""
        route = self.body_routes.get((method, path))
        if route is None or self.metrics.is_listener(server):
            return None
        return route(body)

    def close(self) -> None:
        """Release what the handler holds (the validate sandbox), if anything."""
        close = getattr(self.handler, "close", None)
        if callable(close):
            close()

    def __call__(self, request: flask.Request) -> flask.Response:
        if self.metrics.is_listener(request.server):
            return self.serve_metrics(request)  # METRICS_ADDR's own listener: nothing else
        if request.method == "GET" and request.path == "/metrics" and self.metrics.on_function_port:
            return self.serve_metrics(request)
        if request.method == "GET" and request.path in ("/health", "/healthz"):
            return _json(
                200,
                status="healthy",
                function=self.name,
                version=__version__,
                timestamp=dt.datetime.now(dt.UTC).isoformat(),
                **self._isolation(),
            )
        if request.method == "GET" and request.path in ("/ready", "/readyz"):
            ready = self.handler.ready()
            return _json(
                200 if ready else 503,
                status="ready" if ready else "warming",
                function=self.name,
                **self._isolation(),
            )
        route = self.routes.get((request.method, request.path))
        if route is not None:
            return route(request)
        if request.method == "POST" and request.path in self.event_routes:
            return self.serve_event(request, self.event_routes[request.path])
        if request.method != "POST" or request.path != "/":
            return _json(
                404 if request.path != "/" else 405,
                error=f"{request.method} {request.path} is not served; POST a "
                "CloudEvent to /, or GET /health or /ready",
            )
        return self.serve_event(request, self.handler.handle)

    def serve_event(
        self, request: flask.Request, handle: Callable[[Envelope], Envelope | None]
    ) -> flask.Response:
        """One CloudEvent in, `handle` it, at most one out: the reply contract."""
        refusal = self._check_sender(request)
        if refusal is not None:
            return refusal
        try:
            event = from_request(dict(request.headers), request.get_data())
        except NotACloudEventError as error:
            return self._refuse(400, error=str(error))
        # Every line logged while handling it carries the job, event and trace ids; the
        # reply carries the traceparent of the span handling it (tracing.py).
        with tracing.handling(self.name, event) as scope:
            metrics.EVENTS_RECEIVED.labels(self.name, metrics.event_type(event.type)).inc()
            try:
                reply = scope.run(handle)
            except TransientError as error:
                return self._refuse(503, error=error.message)
            except UserError as error:
                return self._refuse(400, error=error.message, reason=error.reason)
            except PayloadError as error:  # the data is not what its type promises
                return self._refuse(400, error=str(error))
            except RecursionError:  # a parser given data nested deeper than it follows
                return self._refuse(400, error=f"event {event.id}'s data is nested too deeply")
            except Exception:
                log.exception("%s failed on event %s (%s)", self.name, event.id, event.type)
                return self._refuse(
                    500, error=f"{self.name} failed on event {event.id}; see its log"
                )
            if reply is None:
                return flask.Response(status=202)
            metrics.EVENTS_REPLIED.labels(self.name, metrics.event_type(reply.type)).inc()
            headers, body = to_binary(reply)
            return flask.Response(body, status=200, headers=headers)

    def _check_sender(self, request: flask.Request) -> flask.Response | None:
        """401 or 403 before the event is even decoded, unless its sender's token is good."""
        if self.verifier is None:
            return None
        try:
            self.verifier.sender(request.headers.get("Authorization"))
        except SenderRefusedError as refused:
            metrics.SENDERS_REFUSED.labels(self.name, str(refused.status), refused.reason).inc()
            return self._refuse(refused.status, error=refused.message)
        except TransientError as error:  # the API server's keys could not be read
            return self._refuse(503, error=error.message)
        return None

    def serve_metrics(self, request: flask.Request) -> flask.Response:
        """`GET /metrics` for Prometheus; a listener of its own serves nothing else."""
        if request.method != "GET" or request.path != "/metrics":
            return _json(404, error=f"{request.method} {request.path} is not served; GET /metrics")
        body, content_type = metrics.exposition(request.headers.get("Accept"))
        return flask.Response(body, status=200, content_type=content_type)

    def _isolation(self) -> dict[str, object]:
        """{"isolation": the kernel's layers around untrusted code} for a handler that runs
        some (validate's sandbox, execute's worker); nothing for one that does not."""
        isolation = getattr(self.handler, "isolation", None)
        if not callable(isolation):
            return {}
        return {"isolation": msgspec.to_builtins(isolation())}

    def _refuse(self, code: int, **body: object) -> flask.Response:
        """An event answered with an error, counted by its status code."""
        metrics.EVENT_ERRORS.labels(self.name, str(code)).inc()
        return _json(code, **body)
