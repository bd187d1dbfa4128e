"""The total deadline of one circuit URL fetch, kept by a timer that cuts its sockets.

Used by `fetching.fetch_circuit`. requests' timeout bounds each connect and each
read, not their sum: a server that sends a byte now and then, in its headers, its
TLS handshake or its body, keeps every read short and the fetch alive for ever.
Here each connection the fetch opens is watched (through the `Session` that
`session()` gives), and when the deadline passes a timer shuts those sockets down,
so that whatever read is waiting returns at once and the fetch ends as timed out.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class FetchDeadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.passed = False
        self._lock = threading.Lock()
        # Duplicates of the connections' descriptors: shutting one down ends reads on
        # the socket it shares (through TLS too), and being ours, no descriptor can be
        # closed and reused by something else while the timer holds it.
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def remaining(self) -> float:
        return max(self.at - time.monotonic(), 0.001)

    def watch(self, sock: socket.socket) -> None:
        duplicate = sock.dup()
        with self._lock:
            self._sockets.append(duplicate)
            if self.passed:
                _shut(duplicate)

    def _cut(self) -> None:
        with self._lock:
            self.passed = True
            for sock in self._sockets:
                _shut(sock)

    @contextlib.contextmanager
    def running(self) -> Iterator[FetchDeadline]:
        _current.deadline = self
        self._timer.start()
        try:
            yield self
        finally:
            self._timer.cancel()
            _current.deadline = None
            with self._lock:
                for sock in self._sockets:
                    sock.close()
                self._sockets.clear()


def session() -> requests.Session:
    """A Session whose connections the running `FetchDeadline` of this thread watches."""
    created = requests.Session()
    created.trust_env = False  # no proxies or netrc from the environment
    adapter = _WatchedAdapter(max_retries=0)
    created.mount("http://", adapter)
    created.mount("https://", adapter)
    return created


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Current(threading.local):
    deadline: FetchDeadline | None = None


# Connections are opened in the thread that fetches, so the deadline is found there.
_current = _Current()


def _watched(sock: socket.socket) -> socket.socket:
    deadline = _current.deadline
    if deadline is not None:
        deadline.watch(sock)
    return sock


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _watched(super()._new_conn())


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _watched(super()._new_conn())


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }
