"""The werkzeug request handler of the HTTP servers this project starts on loopback
(the local Broker, the functions under `qop run --http`)."""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler


class KeepAliveHandler(WSGIRequestHandler):
    # HTTP/1.1 keeps a caller's connection open between requests, as Knative's
    # dispatcher does; werkzeug's default HTTP/1.0 closes each one.
    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # a line per event is noise; failed deliveries are logged where they fail
