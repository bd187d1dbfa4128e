"""`qop` as a real process: `qop serve FUNCTION` for the tests of what a served function
does (the HTTP APIs, shutdown, metrics and the admission webhook), and `qop` for the
tests of the command line.

`served` starts it on a free loopback port in a process group of its own, waits until
GET /ready answers 200, and on leaving stops the whole group. benchmarks/serving.py is
the benchmarks' counterpart: they may not import tests/, and they time readiness
themselves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.http import from_request, to_binary
from qiskit_operator.local.devcluster import free_port
from qiskit_operator.local.pipeline import admit
from tests.conftest import ROOT, job_manifest

__all__ = ["HOST", "QOP", "free_port", "qop", "served"]

HOST = "127.0.0.1"
QOP = [sys.executable, "-m", "qiskit_operator.cli"]
# Longer than gunicorn's 25 s graceful timeout, so a server with a request still in
# flight drains it rather than being killed first.
STOP_GRACE_SECONDS = 30


def qop(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`qop ARGS` from the repository root, to its end; stdin closed, output captured."""
    return subprocess.run(
        [*QOP, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@contextlib.contextmanager
def served(
    function: str,
    workdir: Path,
    *,
    ca: Path | None = None,
    ready_timeout: float = 60,
    **env: str,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`qop serve FUNCTION`, ready; yields the process and its base URL.

    HTTPS verified against `ca` where one is given (the server's TLS_* come in `env`),
    HTTP otherwise. Its output goes to a log in `workdir`, quoted by every failure here;
    its results go under `workdir` too unless `env` says where. A test may stop the
    process itself: leaving then only stops what is left of its group.
    """
    port = free_port()
    base = f"{'https' if ca else 'http'}://{HOST}:{port}"
    log_path = workdir / f"{function}-{port}.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*QOP, "serve", function, "--host", HOST, "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "QOP_RESULTS_DIR": str(workdir / "results"), **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: gunicorn's workers, validate's sandbox
        )
        try:
            deadline = time.monotonic() + ready_timeout
            while not _answers_ready(base, ca):
                code = server.poll()
                assert code is None, f"qop serve {function} exited {code}:\n{log_path.read_text()}"
                assert time.monotonic() < deadline, (
                    f"qop serve {function} not ready in {ready_timeout:g} s:\n"
                    f"{log_path.read_text()}"
                )
                time.sleep(0.1)
            yield server, base
        finally:
            _stop(server)


def _answers_ready(base: str, ca: Path | None) -> bool:
    try:
        ready = requests.get(f"{base}/ready", timeout=2, verify=str(ca) if ca else True)
    except (requests.ConnectionError, requests.Timeout):
        return False
    return ready.status_code == 200


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group, so that gunicorn drains and removes its prometheus
    multiprocess directory; SIGKILL to whatever is left after the grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(STOP_GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(10)


# What a hostile request may grow a server's process tree by (sandbox children and
# their replies come and go; what was fixed grew it by gigabytes).
MAX_GROWTH_BYTES = 300 << 20


def tree_rss_bytes(pid: int) -> int:
    """VmRSS of a process and all its descendants, from /proc."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        proc = Path(f"/proc/{current}")
        try:
            status = (proc / "status").read_text()
            for task in (proc / "task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended while being read
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) << 10
    return total


class MeasuredServer:
    """A server under test whose process tree's memory is measured against where it started."""

    def __init__(self, pid: int, base: str) -> None:
        self.pid = pid
        self.base = base
        self.start_rss = tree_rss_bytes(pid)

    def refusal(self, fmt: str, code: str) -> tuple[list[str], float]:
        """`POST /validate` of `code`: the errors of its `valid: false` answer, and the seconds
        it took."""
        started = time.monotonic()
        answer = requests.post(
            f"{self.base}/validate", json={"code": code, "format": fmt}, timeout=60
        )
        took = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        assert body["valid"] is False, body
        return list(body["errors"]), took

    def rejection(self, fmt: str, code: str) -> tuple[str, float]:
        """A job of `code` sent as the API server source's CloudEvent: the message of the
        `job.rejected` answer, and the seconds it took."""
        manifest = job_manifest("refused", code)
        manifest["spec"]["circuit"]["format"] = fmt
        headers, body = to_binary(resource_event(admit(manifest), types.APISERVER_ADD))
        started = time.monotonic()
        answer = requests.post(self.base, data=body, headers=headers, timeout=60)
        took = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        reply = from_request(dict(answer.headers), answer.content)
        assert reply.type == types.JOB_REJECTED
        rejected = payloads.decode(reply.type, reply.data)
        assert isinstance(rejected, payloads.JobRejected)
        return rejected.message, took

    def check_unharmed(self) -> None:
        grown = tree_rss_bytes(self.pid) - self.start_rss
        assert grown < MAX_GROWTH_BYTES, f"the server grew by {grown >> 20} MiB"
        assert requests.get(f"{self.base}/health", timeout=10).status_code == 200
