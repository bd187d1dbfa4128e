"""`fetch_circuit` against real HTTP servers on 127.0.0.1, and its refusals.

Nothing here sends a packet anywhere but loopback: `loopback_only` fails a test
(rather than sending) that tries to connect anywhere else, and `no_connections`
fails a refusal test that tries to connect at all.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from qiskit_operator.circuits.fetching import UrlPolicy, fetch_circuit
from qiskit_operator.errors import TransientError, UserError
from tests.conftest import BELL_QASM2

LIMIT = 4096


def _not_found(_: Request) -> Response:
    return Response("not here", status=404)


@dataclass
class CircuitServer:
    """One werkzeug server in a daemon thread, recording the paths it was asked for."""

    routes: dict[str, Callable[[Request], Response]]
    requests: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    server: BaseWSGIServer | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        self.requests.append(request.path)
        self.hosts.append(request.host)
        route = self.routes.get(request.path, _not_found)
        response: Iterable[bytes] = route(request)(environ, start_response)
        return response

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def serve(routes: dict[str, Callable[[Request], Response]]) -> Iterator[CircuitServer]:
    circuits = CircuitServer(routes)
    circuits.server = make_server("127.0.0.1", 0, circuits, threaded=True)
    thread = threading.Thread(
        target=circuits.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield circuits
    finally:
        circuits.server.shutdown()
        circuits.server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def elsewhere() -> Iterator[CircuitServer]:
    """A second loopback server, on a port the policy does not allow."""
    yield from serve({"/bell.qasm": lambda _: Response(BELL_QASM2)})


@pytest.fixture
def server(elsewhere: CircuitServer) -> Iterator[CircuitServer]:
    def streamed(_: Request) -> Response:
        # No Content-Length: the limit must be found while counting.
        return Response((b"x" * 1024 for _ in range(LIMIT // 1024 + 2)), mimetype="text/plain")

    released = threading.Event()

    def trickle() -> Iterator[bytes]:
        # A byte every 50 ms for up to 20 s: each read is quick, the whole is not.
        for _ in range(400):
            if released.wait(0.05):
                return
            yield b"x"

    def slow(_: Request) -> Response:
        released.wait(timeout=2)
        return Response(BELL_QASM2)

    def redirect(location: str) -> Callable[[Request], Response]:
        return lambda _: Response(status=302, headers={"Location": location})

    routes: dict[str, Callable[[Request], Response]] = {
        "/bell.qasm": lambda _: Response(BELL_QASM2, mimetype="text/plain"),
        "/big.qasm": lambda _: Response(b"x" * (LIMIT + 1)),
        "/streamed.qasm": streamed,
        "/moved.qasm": redirect("/bell.qasm"),
        "/loop.qasm": redirect("/loop.qasm"),
        "/away.qasm": redirect(elsewhere.url("/bell.qasm")),
        "/metadata.qasm": redirect("http://169.254.169.254/latest/meta-data/"),
        "/ftp.qasm": redirect("ftp://127.0.0.1/bell.qasm"),
        "/broken.qasm": lambda _: Response("boom", status=500),
        "/busy.qasm": lambda _: Response("later", status=429),
        "/slow.qasm": slow,
        "/trickle.qasm": lambda _: Response(trickle(), mimetype="text/plain"),
        "/trickle-sized.qasm": lambda _: Response(trickle(), headers={"Content-Length": "400"}),
        "/latin1.qasm": lambda _: Response("// caf\xe9\n".encode("latin-1")),
    }
    try:
        yield from serve(routes)
    finally:
        released.set()


def allowing(server: CircuitServer, **overrides: Any) -> UrlPolicy:
    settings: dict[str, Any] = {
        "allow_http": True,
        "allowed_hosts": frozenset({f"127.0.0.1:{server.port}"}),
        "max_bytes": LIMIT,
        "timeout_seconds": 5.0,
    }
    return UrlPolicy(**{**settings, **overrides})


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Addresses other than loopback are watched on test machines: a bug must not reach them."""
    connect = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> None:
        if address[0] not in ("127.0.0.1", "::1"):
            raise AssertionError(f"tried to connect to {address}")
        connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Connections attempted during the test, each refused before a packet leaves."""
    attempts: list[object] = []

    def refuse(_: socket.socket, address: object) -> None:
        attempts.append(address)
        raise AssertionError(f"tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


# --- The test server: what a job's circuit URL can fetch ---------------------------------------


def test_a_qasm_file_is_fetched_as_text(server: CircuitServer) -> None:
    assert fetch_circuit(server.url("/bell.qasm"), allowing(server)) == BELL_QASM2


def test_http_connects_to_the_checked_address_with_the_original_host_header(
    server: CircuitServer,
) -> None:
    policy = allowing(server, allowed_hosts=frozenset({f"localhost:{server.port}"}))
    assert fetch_circuit(f"http://localhost:{server.port}/bell.qasm", policy) == BELL_QASM2
    assert server.hosts == [f"localhost:{server.port}"]


def test_http_is_not_resolved_again_after_the_address_check(
    server: CircuitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rebinding name: loopback (allowed) for the check, the metadata address afterwards.
    lookups: list[str] = []
    resolve = socket.getaddrinfo

    def rebinding(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host != "circuits.test":
            return resolve(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "169.254.169.254"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    policy = allowing(server, allowed_hosts=frozenset({f"circuits.test:{server.port}"}))
    assert fetch_circuit(f"http://circuits.test:{server.port}/bell.qasm", policy) == BELL_QASM2
    assert lookups == ["circuits.test"]
    assert server.hosts == [f"circuits.test:{server.port}"]


def test_allow_private_reaches_loopback_without_an_allowlist(server: CircuitServer) -> None:
    policy = UrlPolicy(allow_http=True, allow_private=True)
    assert fetch_circuit(server.url("/bell.qasm"), policy) == BELL_QASM2


def test_a_redirect_on_the_same_server_is_followed(server: CircuitServer) -> None:
    assert fetch_circuit(server.url("/moved.qasm"), allowing(server)) == BELL_QASM2
    assert server.requests == ["/moved.qasm", "/bell.qasm"]


def test_redirect_to_another_loopback_port_is_refused_before_connecting(
    server: CircuitServer, elsewhere: CircuitServer
) -> None:
    with pytest.raises(UserError, match="private or reserved") as refused:
        fetch_circuit(server.url("/away.qasm"), allowing(server))
    assert refused.value.reason == "CircuitUrlRefused"
    assert elsewhere.requests == []


def test_redirect_to_the_metadata_address_is_refused_before_connecting(
    server: CircuitServer,
) -> None:
    with pytest.raises(UserError, match=r"169\.254\.169\.254.*private or reserved"):
        fetch_circuit(server.url("/metadata.qasm"), allowing(server))


def test_redirect_to_another_scheme_is_refused(server: CircuitServer) -> None:
    with pytest.raises(UserError, match="must use http or https"):
        fetch_circuit(server.url("/ftp.qasm"), allowing(server))


def test_too_many_redirects_are_refused(server: CircuitServer) -> None:
    with pytest.raises(UserError, match="redirects more than 3 times"):
        fetch_circuit(server.url("/loop.qasm"), allowing(server))
    assert len(server.requests) == 4


def test_a_body_over_the_declared_length_limit_is_refused(server: CircuitServer) -> None:
    with pytest.raises(UserError, match=f"limit of {LIMIT} bytes"):
        fetch_circuit(server.url("/big.qasm"), allowing(server))


def test_a_streamed_body_is_cut_off_at_the_limit(server: CircuitServer) -> None:
    with pytest.raises(UserError, match=f"limit of {LIMIT} bytes"):
        fetch_circuit(server.url("/streamed.qasm"), allowing(server))


def test_not_found_is_a_user_error_naming_the_status_without_the_query(
    server: CircuitServer,
) -> None:
    with pytest.raises(UserError) as missing:
        fetch_circuit(server.url("/gone.qasm?token=s3cret"), allowing(server))
    assert "404" in missing.value.message
    assert server.url("/gone.qasm") in missing.value.message
    assert "s3cret" not in missing.value.message


@pytest.mark.parametrize(("path", "status"), [("/broken.qasm", "500"), ("/busy.qasm", "429")])
def test_server_errors_and_throttling_are_transient(
    server: CircuitServer, path: str, status: str
) -> None:
    with pytest.raises(TransientError, match=status):
        fetch_circuit(server.url(path), allowing(server))


def test_a_slow_server_times_out_as_a_transient_error(server: CircuitServer) -> None:
    with pytest.raises(TransientError, match="timed out"):
        fetch_circuit(server.url("/slow.qasm"), allowing(server, timeout_seconds=0.5))


@pytest.mark.parametrize("path", ["/trickle.qasm", "/trickle-sized.qasm"])
def test_a_body_that_trickles_in_is_cut_off_at_the_total_deadline(
    server: CircuitServer, path: str
) -> None:
    started = time.monotonic()
    with pytest.raises(TransientError, match="timed out"):
        fetch_circuit(server.url(path), allowing(server, timeout_seconds=1.0))
    # The server would trickle for 20 s; the bound is loose, the deadline 1 s.
    assert time.monotonic() - started < 10


@pytest.fixture
def trickling_headers() -> Iterator[int]:
    """A raw HTTP server on loopback that sends its status line, then a header one byte
    every 50 ms, for up to 20 s or until the client leaves; yields its port."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)
                try:
                    connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    for _ in range(400):
                        if stop.wait(0.05):
                            return
                        connection.sendall(b"a")
                except OSError:
                    continue  # the client left

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_headers_that_trickle_in_are_cut_off_at_the_total_deadline(
    trickling_headers: int,
) -> None:
    policy = UrlPolicy(
        allow_http=True,
        allowed_hosts=frozenset({f"127.0.0.1:{trickling_headers}"}),
        timeout_seconds=1.0,
    )
    started = time.monotonic()
    with pytest.raises(TransientError, match="timed out"):
        fetch_circuit(f"http://127.0.0.1:{trickling_headers}/bell.qasm", policy)
    assert time.monotonic() - started < 10


def test_a_closed_port_is_a_transient_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    policy = UrlPolicy(allow_http=True, allowed_hosts=frozenset({f"127.0.0.1:{port}"}))
    with pytest.raises(TransientError, match="could not be fetched") as closed:
        fetch_circuit(f"http://127.0.0.1:{port}/bell.qasm", policy)
    assert isinstance(closed.value.__cause__, OSError)


def test_bytes_that_are_not_utf8_are_a_user_error(server: CircuitServer) -> None:
    with pytest.raises(UserError, match="not UTF-8") as latin1:
        fetch_circuit(server.url("/latin1.qasm"), allowing(server))
    assert latin1.value.reason == "CircuitNotText"


# --- Refusals: decided from the URL and its addresses, before any connection -------------------


def test_https_is_required_by_default(no_connections: list[object]) -> None:
    with pytest.raises(UserError, match="use https"):
        fetch_circuit("http://circuits.example.com/bell.qasm", UrlPolicy())
    assert no_connections == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://circuits.example.com/bell.qasm",
        "gopher://circuits.example.com/",
        "data:text/plain,OPENQASM 2.0;",
        "circuits.example.com/bell.qasm",
    ],
)
def test_schemes_other_than_http_and_https_are_refused(
    url: str, no_connections: list[object]
) -> None:
    with pytest.raises(UserError, match="must use https"):
        fetch_circuit(url, UrlPolicy())
    assert no_connections == []


def test_credentials_in_the_url_are_refused(no_connections: list[object]) -> None:
    with pytest.raises(UserError, match="credentials") as refused:
        fetch_circuit("https://user:hunter2@circuits.example.com/bell.qasm", UrlPolicy())
    assert "hunter2" not in refused.value.message
    assert no_connections == []


@pytest.mark.parametrize(
    "host",
    [
        "10.0.0.1",
        "192.168.1.1",
        "172.16.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "127.0.0.1",
        "[::1]",
        "[::ffff:169.254.169.254]",
        "[fd00::1]",
        "0.0.0.0",
        "224.0.0.1",
        "localhost",
    ],
)
def test_private_and_reserved_addresses_are_refused_before_connecting(
    host: str, no_connections: list[object]
) -> None:
    policy = UrlPolicy(allow_http=True, timeout_seconds=0.01)
    with pytest.raises(UserError, match="private or reserved") as refused:
        fetch_circuit(f"http://{host}/bell.qasm", policy)
    assert refused.value.reason == "CircuitUrlRefused"
    assert no_connections == []


def test_a_name_with_any_private_address_is_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch, no_connections: list[object]
) -> None:
    def mixed(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        assert host == "circuits.test"
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", mixed)
    with pytest.raises(UserError, match=r"10\.1\.2\.3, a private or reserved"):
        fetch_circuit("https://circuits.test/bell.qasm", UrlPolicy())
    assert no_connections == []


def test_an_allowed_host_on_one_port_does_not_allow_another(
    no_connections: list[object],
) -> None:
    policy = UrlPolicy(allow_http=True, allowed_hosts=frozenset({"127.0.0.1:8080"}))
    with pytest.raises(UserError, match="private or reserved"):
        fetch_circuit("http://127.0.0.1:8081/bell.qasm", policy)
    assert no_connections == []
