"""The gunicorn worker class of `qop serve`: uvicorn's, with the receive deadline.

gunicorn's master stays what it was (WORKERS processes, TLS_CERT_FILE and
TLS_KEY_FILE, the METRICS_ADDR listener and the metrics hooks, the graceful
SIGTERM); only what a worker does with a connection changes. gunicorn's own
threaded worker hands a connection to a thread as soon as it is readable, and the
thread then waits for the rest of the request: 32 slow clients held all 16 threads
of two workers. Here each worker reads requests on an event loop (`deadline`) and
runs the application in threads only once a request is whole (`buffering`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]

from qiskit_operator.intake.deadline import http_protocol


class BoundedWorker(UvicornWorker):  # type: ignore[misc]
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        # uvloop where it is installed (validate's and reconcile's images): the hand-off
        # of each request to a pool thread and back costs the asyncio loop about 13 %
        # more CPU per request (benchmarks/validate.py); asyncio elsewhere (execute's
        # image, at its size target, leaves uvloop's 14 MB out).
        "loop": "auto",
        # httptools' C parser where it is installed (validate's and reconcile's images):
        # h11, pure Python, parsed and wrote about 15 % of a cheap request.
        "http": http_protocol(),
        # BufferedWsgi answers lifespan itself: to close its thread pool.
        "lifespan": "on",
        # A line per request is noise here, as in gunicorn's default (no access log).
        "access_log": False,
        # Nothing here reads the client's address, so the middleware that rewrites it
        # from X-Forwarded-For on every request (about 4 % of a worker) is left out.
        "proxy_headers": False,
    }
