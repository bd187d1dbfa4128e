"""An ASGI application that serves a WSGI one, each request received whole first.

Built by `qop serve` around the functions-framework (Flask) application and run by
`worker.BoundedWorker`; routes that need only the body (validate's `POST /validate`)
are answered by the function's endpoint directly, without the WSGI layers. The body
is read on the event loop, up to a limit: a Content-Length over it is answered 413
before anything is read, and a chunked body is cut off with a 413 as soon as it
passes it. Only then does a thread of a fixed pool (THREADS of them) call the WSGI
application (or the body route), with the body in memory, so a slow or oversized
request never holds one of the threads that serve the others.

Bodies being received wait for no thread, so many clients could together make a
worker hold many bodies at once: what one worker holds, from the first byte of a
body until its answer is sent, is bounded too, and a body that would pass that
bound is answered 503 (retry) instead.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from qiskit_operator import metrics

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

Address = tuple[str, int | None]
BodyAnswer = Callable[[str, str, Address | None, bytes], tuple[int, bytes] | None]
"""(method, path, server address, body) in; (status, JSON) out, or None for the app."""
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# The headers a WSGI environ carries as CONTENT_* rather than HTTP_*; Transfer-Encoding
# is dropped, since the application always gets the body whole, with its length.
_UNPREFIXED = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}
_DROPPED = {"transfer-encoding"}


class BufferedWsgi:
    """`app` (WSGI) as an ASGI application, with `max_body_bytes` and a pool of `threads`.

    `receive_seconds` is the deadline for a whole request, kept by `deadline` on the
    connection; it is here so that the protocol finds it next to the other bounds.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        threads: int,
        max_body_bytes: int,
        receive_seconds: float,
        max_buffered_bytes: int,
        function: str = "",
        answer_body: BodyAnswer | None = None,
    ) -> None:
        self.app = app
        # Answers the routes that need only the body, before `app` is called (the
        # function's serving.FunctionEndpoint.answer_body); None: `app` serves all.
        self.answer_body = answer_body
        # The function served, for the `function` label of refused requests.
        self.function = function
        self.threads = threads
        self.max_body_bytes = max_body_bytes
        self.receive_seconds = receive_seconds
        self.max_buffered_bytes = max_buffered_bytes
        # Only the event loop's thread changes it: no lock.
        self._buffered = 0
        self._pool: ThreadPoolExecutor | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._pool is not None:
                    self._pool.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            if declared.isdigit():
                await self._refuse(send, 413, self._too_large())
            else:
                await self._refuse(send, 400, "Content-Length is not a number of bytes")
            return
        body = bytearray()
        held = 0  # what this request counts in `_buffered`
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client left, or was cut off by the receive deadline
                chunk = message.get("body", b"")
                if self._buffered + len(chunk) > self.max_buffered_bytes:
                    await self._refuse(send, 503, self._busy(), retry_after=1)
                    return
                self._buffered += len(chunk)
                held += len(chunk)
                body += chunk
                if len(body) > self.max_body_bytes:
                    await self._refuse(send, 413, self._too_large())
                    return
                if not message.get("more_body", False):
                    break
            whole = bytes(body)
            del body  # one copy while the application runs, not two
            loop = asyncio.get_running_loop()
            status, headers, chunks = await loop.run_in_executor(
                self._threads(), self._serve, scope, whole
            )
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": chunks})
        finally:
            self._buffered -= held

    async def _refuse(
        self, send: Send, status: int, error: str, retry_after: int | None = None
    ) -> None:
        metrics.REQUESTS_REFUSED.labels(self.function, str(status)).inc()
        await _refuse(send, status, error, retry_after)

    def _too_large(self) -> str:
        return f"the request body is over the limit of {self.max_body_bytes} bytes; send less"

    def _busy(self) -> str:
        return (
            f"this server holds {self.max_buffered_bytes} bytes of request bodies at most "
            "and has no room for this one now; retry shortly"
        )

    def _serve(self, scope: Scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """In a pool thread: a body route's answer, or else the WSGI application's."""
        if self.answer_body is not None:
            server = scope.get("server")
            answered = self.answer_body(scope["method"], scope["path"], server, body)
            if answered is not None:
                status, payload = answered
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ]
                return status, headers, payload
        return _call(self.app, _environ(scope, body))

    def _threads(self) -> ThreadPoolExecutor:
        # Made on first use, in the worker process: a pool made before gunicorn forks
        # would have no threads in the worker.
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="request")
        return self._pool


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1").strip()
    return None


async def _refuse(send: Send, status: int, error: str, retry_after: int | None = None) -> None:
    """A JSON error, and the connection closed after it: the rest of the body is unread."""
    body = json.dumps({"error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _environ(scope: Scope, body: bytes) -> dict[str, Any]:
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client")
    # WSGI carries the path as bytes decoded as latin-1 (PEP 3333).
    path = scope.get("raw_path") or scope["path"].encode("utf-8")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": bytes(path).partition(b"?")[0].decode("latin-1"),
        "QUERY_STRING": bytes(scope.get("query_string", b"")).decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0] if client else "",
        "REMOTE_PORT": str(client[1]) if client else "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = bytes(raw_name).decode("latin-1").lower()
        value = bytes(raw_value).decode("latin-1")
        if name in _DROPPED or name == "content-length":
            continue
        key = _UNPREFIXED.get(name) or "HTTP_" + name.upper().replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def _call(
    app: WSGIApplication, environ: dict[str, Any]
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The WSGI call, in a pool thread: its status, headers and whole body."""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        started[:] = [(status, headers)]
        return written.append

    written: list[bytes] = []
    result: Iterable[bytes] = app(environ, start_response)
    try:
        written.extend(result)
    finally:
        close = getattr(result, "close", None)
        if callable(close):
            close()
    status, headers = started[0]
    return (
        int(status.split(" ", 1)[0]),
        [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        b"".join(written),
    )
