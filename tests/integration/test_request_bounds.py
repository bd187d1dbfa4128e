"""Bounds where a request enters, over real HTTP: `qop serve` of each function and the
Broker's ingress refuse a body over QOP_MAX_REQUEST_BYTES with a 413 and a JSON error,
cut off a client that does not send its whole request within
QOP_REQUEST_RECEIVE_SECONDS, and keep answering real requests while many slow clients
hold connections open."""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from qiskit_operator.routing.delivery import InProcessSubscriber
from qiskit_operator.routing.ingress import BrokerServer
from qiskit_operator.routing.routes import Routes
from qiskit_operator.routing.triggers import load_triggers
from tests.conftest import BELL_QASM2, ROOT
from tests.serving import HOST, served

LIMIT = 64 * 1024
RECEIVE_SECONDS = 3
BOUNDS = {"QOP_MAX_REQUEST_BYTES": str(LIMIT), "QOP_REQUEST_RECEIVE_SECONDS": str(RECEIVE_SECONDS)}
CLOUDEVENT_HEADERS = (
    "ce-specversion: 1.0\r\nce-type: dev.test\r\nce-source: /tests\r\nce-id: 1\r\n"
    "content-type: application/json\r\n"
)


@pytest.fixture(scope="module")
def functions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """`qop serve` of each function with a 64 KiB body limit and a 3 s receive deadline;
    their ports by name."""
    workdir = tmp_path_factory.mktemp("bounded")
    with contextlib.ExitStack() as stack:
        ports = {}
        for name in ("validate", "execute", "reconcile"):
            _, base = stack.enter_context(
                served(name, workdir, ready_timeout=90, WORKERS="1", **BOUNDS)
            )
            ports[name] = int(base.rsplit(":", 1)[1])
        yield ports


def exchange(port: int, head: str, parts: list[bytes], wait: float = 30) -> tuple[int, Any]:
    """Send a request's head and then `parts` of its body on a raw connection, as far as
    the server lets it, and read what comes back until the server closes: its status
    and JSON body. A server that refuses early may close while parts are still going."""
    with socket.create_connection((HOST, port), timeout=wait) as connection:
        with contextlib.suppress(OSError):
            connection.sendall(head.encode("latin-1"))
            for part in parts:
                connection.sendall(part)
        answer = read_answer(connection)
    status_line, _, rest = answer.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(body)


def read_answer(connection: socket.socket) -> bytes:
    """One response: its head, and its body as long as its Content-Length says."""
    received = b""
    while b"\r\n\r\n" not in received or len(received) < answer_length(received):
        try:
            chunk = connection.recv(65536)
        except ConnectionResetError:
            break  # the rest of the body was unread when the server closed: a reset
        if not chunk:
            break
        received += chunk
    assert received, "the server closed without an answer"
    return received


def answer_length(received: bytes) -> int:
    head, _, _ = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return 1 << 62  # no length: read until the server closes


def chunked(total: int, size: int = 16 * 1024) -> list[bytes]:
    parts = [f"{size:x}\r\n".encode() + b"x" * size + b"\r\n" for _ in range(total // size)]
    return [*parts, b"0\r\n\r\n"]


ENDPOINTS = [
    ("validate", "/"),
    ("validate", "/validate"),
    ("execute", "/"),
    ("reconcile", "/"),
    ("reconcile", "/dead-letter"),
]


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("function", "path"), ENDPOINTS)
def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(
    functions: dict[str, int], function: str, path: str
) -> None:
    # 600 MiB announced, a few bytes sent: the answer comes without waiting for the rest.
    head = f"POST {path} HTTP/1.1\r\nhost: x\r\n{CLOUDEVENT_HEADERS}content-length: {600 << 20}"
    head += "\r\n\r\n"
    status, body = exchange(functions[function], head, [b"{}"])
    assert status == 413
    assert f"limit of {LIMIT} bytes" in body["error"]


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("function", "path"), ENDPOINTS)
def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(
    functions: dict[str, int], function: str, path: str
) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nhost: x\r\n{CLOUDEVENT_HEADERS}transfer-encoding: chunked\r\n\r\n"
    )
    status, body = exchange(functions[function], head, chunked(4 * LIMIT))
    assert status == 413
    assert f"limit of {LIMIT} bytes" in body["error"]


@pytest.mark.timeout(240)
def test_a_body_under_the_limit_is_still_served(functions: dict[str, int]) -> None:
    code = BELL_QASM2 + "// padding\n" * ((LIMIT // 2) // 11)
    answer = requests.post(
        f"http://{HOST}:{functions['validate']}/validate", json={"code": code}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["valid"] is True


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("what", "sent"),
    [
        ("half the headers", "POST / HTTP/1.1\r\nhost: x\r\n"),
        ("the headers and a little of the body",
         "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{"),
        ("nothing at all", ""),
    ],
)  # fmt: skip
def test_a_client_that_does_not_send_its_whole_request_in_time_is_cut_off(
    functions: dict[str, int], what: str, sent: str
) -> None:
    started = time.monotonic()
    with socket.create_connection((HOST, functions["execute"]), timeout=30) as connection:
        connection.sendall(sent.encode())
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := connection.recv(65536):
                answer += chunk
    waited = time.monotonic() - started
    # Loose bounds: the deadline is 3 s (gunicorn's 2 s keep-alive may close an idle
    # connection first); without one the server would wait for ever (the 30 s socket
    # timeout above would fail the test).
    assert waited < 20, f"{what}: cut off only after {waited:.1f} s"
    if sent:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"within 3 s" in answer


def slow_client(port: int) -> socket.socket:
    """A connection that announces a 100 kB body and sends only a few bytes of it."""
    connection = socket.create_connection((HOST, port), timeout=10)
    connection.sendall(
        b"POST /validate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b'content-length: 100000\r\n\r\n{"code": '
    )
    return connection


@pytest.mark.timeout(180)
def test_real_requests_are_answered_promptly_while_64_slow_clients_hold_connections(
    tmp_path: Path,
) -> None:
    # The defaults of `qop serve validate` (2 workers of 8 threads), and the default
    # receive deadline (15 s), which outlasts the test: the slow clients stay.
    with served("validate", tmp_path, ready_timeout=90, WORKERS="2") as (_, base):
        port = int(base.rsplit(":", 1)[1])
        # A first request pays for what validation loads once; it is not what is measured.
        first = requests.post(f"{base}/validate", json={"code": BELL_QASM2}, timeout=60)
        assert first.status_code == 200, first.text
        with contextlib.ExitStack() as held:
            for _ in range(64):
                held.enter_context(slow_client(port))
            latencies = []
            for _ in range(10):
                started = time.monotonic()
                answer = requests.post(f"{base}/validate", json={"code": BELL_QASM2}, timeout=30)
                latencies.append(time.monotonic() - started)
                assert answer.status_code == 200, answer.text
                assert answer.json()["valid"] is True
    # gunicorn's threaded worker took over 10 s here with 32 slow clients; the bound is
    # loose so that a busy machine cannot fail it.
    assert max(latencies) < 5, f"latencies {latencies}, median {statistics.median(latencies)}"


@pytest.mark.timeout(60)
def test_the_broker_ingress_refuses_an_event_over_the_limit() -> None:
    triggers = load_triggers(ROOT / "knative" / "triggers.yaml")
    nobody = {t.subscriber: InProcessSubscriber(t.subscriber, lambda _: None) for t in triggers}
    broker = BrokerServer(Routes(triggers, nobody), max_body_bytes=LIMIT, dispatchers=1).start()
    try:
        port = int(broker.url.rstrip("/").rsplit(":", 1)[1])
        declared = (
            f"POST / HTTP/1.1\r\nhost: x\r\n{CLOUDEVENT_HEADERS}content-length: {600 << 20}\r\n\r\n"
        )
        status, body = exchange(port, declared, [b"{}"])
        assert (status, f"limit of {LIMIT} bytes" in body["error"]) == (413, True)
        streamed = (
            f"POST / HTTP/1.1\r\nhost: x\r\n{CLOUDEVENT_HEADERS}transfer-encoding: chunked\r\n\r\n"
        )
        status, body = exchange(port, streamed, chunked(4 * LIMIT))
        assert (status, f"limit of {LIMIT} bytes" in body["error"]) == (413, True)
        assert broker.received == 0
    finally:
        broker.stop()


DEEP = b"[" * 5000 + b"]" * 5000


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("function", "path", "event_type", "data"),
    [
        ("execute", "/", "io.qiskit.operator.job.validated", b'{"work": ' + DEEP + b"}"),
        ("reconcile", "/", "io.qiskit.operator.job.completed", b'{"ref": ' + DEEP + b"}"),
        ("reconcile", "/", "dev.knative.apiserver.resource.add", b'{"metadata": ' + DEEP + b"}"),
        ("validate", "/", "dev.knative.apiserver.resource.add", b'{"spec": ' + DEEP + b"}"),
    ],
)
def test_event_data_nested_too_deeply_is_a_clear_refusal_not_a_500(
    functions: dict[str, int], function: str, path: str, event_type: str, data: bytes
) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-type": event_type,
        "ce-source": "/tests",
        "ce-id": "deep-1",
        "ce-subject": "/apis/quantum.io/v1/namespaces/default/qiskitjobs/deep",
        "content-type": "application/json",
    }
    answer = requests.post(
        f"http://{HOST}:{functions[function]}{path}", data=data, headers=headers, timeout=30
    )
    assert answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/json") or answer.status_code in (
        200,
        202,
    )


@pytest.mark.timeout(240)
def test_a_validation_request_nested_too_deeply_is_a_400(functions: dict[str, int]) -> None:
    answer = requests.post(
        f"http://{HOST}:{functions['validate']}/validate",
        data=b'{"code": ' + DEEP + b"}",
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert "nested too deeply" in answer.json()["error"]


@pytest.mark.timeout(120)
def test_a_worker_holding_its_budget_of_bodies_answers_503_to_the_next(tmp_path: Path) -> None:
    # Room for two unfinished bodies of 60 KiB, not three.
    env = {**BOUNDS, "QOP_MAX_BUFFERED_BYTES": str(2 * LIMIT), "WORKERS": "1"}
    with served("reconcile", tmp_path, **env) as (_, base):
        port = int(base.rsplit(":", 1)[1])
        head = f"POST / HTTP/1.1\r\nhost: x\r\n{CLOUDEVENT_HEADERS}content-length: {LIMIT}\r\n\r\n"
        with contextlib.ExitStack() as held:
            connections = []
            for _ in range(3):
                connection = held.enter_context(socket.create_connection((HOST, port), timeout=30))
                connection.sendall(head.encode() + b"x" * (60 * 1024))
                connections.append(connection)
            # Each is answered: 503 for what did not fit, 408 at the deadline for the rest.
            answers = [read_answer(connection) for connection in connections]
    busy = [a for a in answers if a.startswith(b"HTTP/1.1 503 ")]
    assert busy, [a[:100] for a in answers]
    assert b"retry-after: 1" in busy[0].lower()
    assert b"retry shortly" in busy[0]


def refused(port: int, code: str) -> float:
    """`qop_requests_refused_total` of reconcile for `code`, as a scrape of its /metrics sees it."""
    scrape = requests.get(f"http://{HOST}:{port}/metrics", timeout=30).text
    wanted = f'qop_requests_refused_total{{code="{code}",function="reconcile"}} '
    lines = [line for line in scrape.splitlines() if line.startswith(wanted)]
    assert lines, f"no {wanted.strip()} series in the scrape"
    return float(lines[0].rsplit(" ", 1)[1])


@pytest.mark.timeout(120)
def test_refused_requests_are_counted_by_function_and_status(functions: dict[str, int]) -> None:
    port = functions["reconcile"]
    before = {code: refused(port, code) for code in ("408", "413")}
    head = f"POST / HTTP/1.1\r\nhost: x\r\n{CLOUDEVENT_HEADERS}content-length: {600 << 20}\r\n\r\n"
    assert exchange(port, head, [b"{}"])[0] == 413
    with socket.create_connection((HOST, port), timeout=30) as connection:
        connection.sendall(b"POST / HTTP/1.1\r\nhost: x\r\n")  # and never the rest
        with contextlib.suppress(ConnectionResetError):
            while connection.recv(65536):
                pass
    assert refused(port, "413") == before["413"] + 1
    assert refused(port, "408") == before["408"] + 1
