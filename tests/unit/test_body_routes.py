"""Body routes: `qop serve` answers a route that needs only the request's body (validate's
`POST /validate`) from the function's endpoint, without Flask, and leaves every other
request, and any request on the METRICS_ADDR listener, to the WSGI application."""

from __future__ import annotations

import asyncio
from typing import Any

from qiskit_operator.intake.buffering import BufferedWsgi
from qiskit_operator.serving import FunctionEndpoint


class _Handler:
    def handle(self, event: Any) -> None:
        return None

    def ready(self) -> bool:
        return True


def _endpoint(metrics_addr: str = "") -> FunctionEndpoint:
    return FunctionEndpoint(
        "validate",
        _Handler(),
        metrics_addr=metrics_addr,
        body_routes={("POST", "/validate"): lambda body: (200, b'{"echo": %d}' % len(body))},
    )


def _wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("202 Accepted", [("Content-Type", "text/plain")])
    return [b"from the WSGI application"]


def _serve(app: BufferedWsgi, method: str, path: str, body: bytes, port: int = 8000) -> list[Any]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"content-length", str(len(body)).encode())],
        "server": ("127.0.0.1", port),
    }
    sent: list[Any] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _buffered(endpoint: FunctionEndpoint) -> BufferedWsgi:
    return BufferedWsgi(
        _wsgi_app,
        threads=1,
        max_body_bytes=1024,
        receive_seconds=5,
        max_buffered_bytes=4096,
        answer_body=endpoint.answer_body,
    )


def test_a_body_route_is_answered_as_json_without_the_wsgi_application() -> None:
    start, body = _serve(_buffered(_endpoint()), "POST", "/validate", b"12345")
    assert start["status"] == 200
    assert (b"content-type", b"application/json") in start["headers"]
    assert (b"content-length", str(len(b'{"echo": 5}')).encode()) in start["headers"]
    assert body["body"] == b'{"echo": 5}'


def test_other_methods_and_paths_go_to_the_wsgi_application() -> None:
    app = _buffered(_endpoint())
    for method, path in (("GET", "/validate"), ("POST", "/")):
        start, body = _serve(app, method, path, b"")
        assert (start["status"], body["body"]) == (202, b"from the WSGI application")


def test_the_metrics_listener_never_answers_a_body_route() -> None:
    app = _buffered(_endpoint(metrics_addr="127.0.0.1:9090"))
    start, _ = _serve(app, "POST", "/validate", b"{}", port=9090)
    assert start["status"] == 202  # the WSGI application, which serves /metrics only there
    start, _ = _serve(app, "POST", "/validate", b"{}", port=8000)
    assert start["status"] == 200
