"""`qop serve FUNCTION` as a process for the benchmarks: a free loopback port, a start
that leads its own process group, and a stop that takes the whole group down.

Used by coldstart.py (and through it load.py), validate.py and image_payload.py;
validate.py also serves its unsandboxed floor with `served_command`. Each
waits for readiness its own way, since that is what some of them measure; `served`
takes that wait as an argument. tests/serving.py is the tests' counterpart: the
benchmarks do not import tests/.
"""

# Only the standard library: load.py's and validate.py's load clients are spawned
# processes that import the modules importing this one.
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # the only address the benchmarks send traffic to
QOP = (sys.executable, "-m", "qiskit_operator.cli")
STOP_GRACE_SECONDS = 30.0  # above gunicorn's 25 s graceful timeout

Server = subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def start(
    function: str,
    port: int,
    log: IO[Any],
    env: Mapping[str, str],
    *,
    qop: Sequence[str] = QOP,
    cwd: Path = ROOT,
) -> Server:
    """`qop serve FUNCTION` on loopback with exactly `env`, leading its own process group
    (gunicorn's workers, and validate's sandbox zygote and children, are in it too)."""
    return spawn([*qop, "serve", function, "--host", HOST, "--port", str(port)], log, env, cwd)


def spawn(argv: Sequence[str], log: IO[Any], env: Mapping[str, str], cwd: Path = ROOT) -> Server:
    """Any server command with exactly `env`, leading its own process group and session."""
    return subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(server: Server, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM to the group, so that gunicorn drains and removes its metrics directory;
    SIGKILL to whatever is left of it after `grace` seconds or once the master is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(5)


def last_line(log: IO[str]) -> str:
    log.seek(0)
    return (log.read().strip().splitlines() or ["(empty)"])[-1][:300]


@contextlib.contextmanager
def served(
    function: str, env: Mapping[str, str], wait: Callable[[Server, int], None]
) -> Iterator[tuple[Server, int]]:
    """`qop serve FUNCTION` with `env`, once `wait(server, port)` has returned; yields the
    process and its port, and stops it after. `wait` raises RuntimeError when the server
    will not be ready; the error then says how its log ends."""

    def command(port: int) -> list[str]:
        return [*QOP, "serve", function, "--host", HOST, "--port", str(port)]

    with served_command(command, env, wait) as (server, port):
        yield server, port


@contextlib.contextmanager
def served_command(
    command: Callable[[int], Sequence[str]],
    env: Mapping[str, str],
    wait: Callable[[Server, int], None],
) -> Iterator[tuple[Server, int]]:
    """`served` for any server: `command(port)` is its argv, listening on HOST:port."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        server = spawn(command(port), log, env)
        try:
            try:
                wait(server, port)
            except RuntimeError as error:
                raise RuntimeError(f"{error}; its log ends: {last_line(log)}") from error
            yield server, port
        finally:
            stop(server)
