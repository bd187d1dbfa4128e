"""Runs Python circuit programs outside the server process, fast.

A zygote process imports Qiskit once and forks a child per request ahead of
time, so the fork is off the request path and no request can change what the
next one sees. Children run confined by the kernel (`confinement`: seccomp,
Landlock, resource limits), each in its own process group that is killed when
it is done, with the Python guard on top for clear messages (`guard`,
`program`), and answer in typed, bounded msgpack (`replies`), never pickle.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

import msgspec

from qiskit_operator import metrics
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.framing import recv_frame, send_frame
from qiskit_operator.sandbox import confinement, replies
from qiskit_operator.sandbox.environment import untrusted_environment
from qiskit_operator.sandbox.zygote import READY, ChildLimits


@dataclass(frozen=True, slots=True)
class ProgramResult:
    qpy: bytes
    variable: str
    circuits: list[str]


@dataclass(frozen=True, slots=True)
class _Work:
    """What a child is asked to do, in the words its refusals use."""

    subject: str
    advice: str
    or_ended: str = ""


_RUNNING_PYTHON = _Work(
    "the circuit program",
    "build the circuit without long loops, sleeps or huge structures",
    ", or ended itself",
)
_PARSING_QASM3 = _Work(
    "parsing the OpenQASM 3 source",
    "send a smaller circuit, with fewer and shorter loops and gate definitions",
)


@dataclass(frozen=True, slots=True)
class _Child:
    pid: int
    sock: socket.socket


class SandboxPool:
    """Keeps `warm` forked children waiting; each runs exactly one program."""

    def __init__(
        self,
        *,
        warm: int = 2,
        cpu_seconds: int = 10,
        memory_bytes: int = 1 << 30,
        timeout: float = 15.0,
        max_source_bytes: int = 1 << 20,
        max_output_chars: int = 64 << 10,
        max_qpy_bytes: int = 16 << 20,
        python_guard: bool = True,
        require_isolation: bool = False,
    ) -> None:
        self._timeout = timeout
        self._cpu_seconds = cpu_seconds
        self._warm = max(1, warm)
        self._limits = ChildLimits(
            cpu_seconds=cpu_seconds,
            memory_bytes=memory_bytes,
            max_source_bytes=max_source_bytes,
            max_output_chars=max_output_chars,
            max_qpy_bytes=max_qpy_bytes,
            python_guard=python_guard,
            require_isolation=require_isolation,
        )
        self._reply_limit = replies.reply_limit(max_qpy_bytes)
        self._isolation: confinement.Isolation | None = None
        self._ready: deque[_Child] = deque()
        self._lock = threading.Condition()
        self._closed = False
        self._owner_pid: int | None = None
        # Latched when this process's first child is ready: /ready must not flap to
        # 503 each time a request takes the waiting child before the next is forked.
        self._warmed = False

    def start(self) -> None:
        """Start the zygote and the filler, once per process.

        Servers such as gunicorn import the function in a master and fork workers;
        threads do not survive a fork, so each worker starts its own pool lazily.
        """
        with self._lock:
            if self._owner_pid == os.getpid() or self._closed:
                return
            self._owner_pid = os.getpid()
            self._ready.clear()
            self._warmed = False
            self._control, zygote_end = socket.socketpair()
            self._zygote = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "qiskit_operator.sandbox.zygote",
                    str(zygote_end.fileno()),
                    msgspec.json.encode(self._limits).decode(),
                ],
                pass_fds=[zygote_end.fileno()],
                stdin=subprocess.DEVNULL,
                close_fds=True,
                cwd="/",
                env=_zygote_environment(),
            )
            zygote_end.close()
            self._filler = threading.Thread(target=self._fill, name="sandbox-filler", daemon=True)
            self._filler.start()

    def isolation(self) -> confinement.Isolation:
        """The kernel's layers each child runs under (what /health and /ready report)."""
        if self._isolation is None:
            self._isolation = confinement.available()
        return self._isolation

    def _fork(self) -> _Child | None:
        """A warm child, or None when one died while starting; OSError when the zygote is gone."""
        self._control.send(b"F")
        message, fds, _, _ = socket.recv_fds(self._control, 4, 1)
        if len(fds) != 1 or len(message) != 4:
            for fd in fds:
                os.close(fd)
            raise ConnectionError("the sandbox zygote stopped or broke its protocol")
        (pid,) = struct.unpack("!i", message)
        if pid <= 1:
            os.close(fds[0])
            raise ConnectionError(f"the sandbox zygote named child {pid}")
        child = _Child(pid, socket.socket(fileno=fds[0]))
        # Hand out only children that have finished warming up, so a request
        # never waits for (or competes with) a child's own start.
        child.sock.settimeout(self._timeout)
        try:
            announced = child.sock.recv(1)
        except OSError:
            announced = b""
        if announced != READY:
            child.sock.close()
            _kill(pid)
            return None
        return child

    def _fill(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._closed or len(self._ready) < self._warm)
                if self._closed:
                    return
            try:
                child = self._fork()
            except OSError:
                with self._lock:
                    self._closed = True
                    self._lock.notify_all()
                return
            if child is None:
                continue
            with self._lock:
                if not self._closed:
                    self._ready.append(child)
                    self._warmed = True
                    self._lock.notify_all()
                    continue
            # The pool closed while this child was forked: it has no one to serve.
            child.sock.close()
            _kill(child.pid)
            return

    def wait_warm(self, timeout: float = 60.0) -> bool:
        """Block until a child is waiting: the `/ready` condition."""
        self.start()
        with self._lock:
            return self._lock.wait_for(lambda: bool(self._ready) or self._closed, timeout) and bool(
                self._ready
            )

    @property
    def is_warm(self) -> bool:
        """Whether this process's sandbox has had a child ready and its zygote still
        serves: a request may find every child busy, and then waits for the next."""
        self.start()
        return self._warmed and not self._closed

    def _take(self) -> _Child:
        self.start()
        with self._lock:
            if not self._lock.wait_for(lambda: bool(self._ready) or self._closed, self._timeout):
                raise TransientError("no sandbox worker became free in time")
            if not self._ready:
                raise TransientError("the sandbox is closed")
            child = self._ready.popleft()
            self._lock.notify_all()
            return child

    def run(self, code: str, variable: str | None = None) -> ProgramResult:
        """Run one program in a fresh child; UserError says why it gave no circuit."""
        try:
            return self._run(code, variable)
        except UserError as error:
            metrics.SANDBOX_FAILURES.labels(error.reason).inc()
            raise
        except TransientError:
            metrics.SANDBOX_FAILURES.labels("Unavailable").inc()
            raise

    def parse_qasm3(self, source: str) -> bytes:
        """Parse OpenQASM 3 in a fresh child, under its limits; the circuit as QPY.
        UserError says where the source is wrong, or which limit the parse ran into."""
        try:
            reply = self._exchange(replies.ProgramRequest(source, language="qasm3"), _PARSING_QASM3)
        except UserError as error:
            metrics.SANDBOX_FAILURES.labels(error.reason).inc()
            raise
        except TransientError:
            metrics.SANDBOX_FAILURES.labels("Unavailable").inc()
            raise
        if isinstance(reply, replies.ProgramBuilt):
            return reply.qpy
        raise UserError(reply.message, reason=reply.kind, line=reply.line)

    def _run(self, code: str, variable: str | None) -> ProgramResult:
        if variable is not None and len(variable) > replies.MAX_NAME_CHARS:
            raise UserError(
                f"circuit.variable is {len(variable)} characters long; the most is "
                f"{replies.MAX_NAME_CHARS}",
                reason="NoCircuit",
            )
        reply = self._exchange(replies.ProgramRequest(code, variable), _RUNNING_PYTHON)
        if isinstance(reply, replies.ProgramBuilt):
            return ProgramResult(qpy=reply.qpy, variable=reply.variable, circuits=reply.circuits)
        where = f" at line {reply.line}" if reply.line else ""
        raise UserError(
            f"{reply.kind}{where}: {reply.message}",
            reason=_REASONS.get(reply.kind, "ProgramError"),
            line=reply.line,
        )

    def _exchange(self, request: replies.ProgramRequest, work: _Work) -> replies.ProgramReply:
        """Send one request to a fresh child and read its typed reply; the child is killed
        whatever happens."""
        child = self._take()
        started = time.monotonic()
        try:
            child.sock.settimeout(self._timeout)
            send_frame(child.sock, replies.encode(request))
            frame = recv_frame(child.sock, self._reply_limit)
        except TimeoutError as error:
            raise UserError(
                f"{work.subject} took longer than {self._timeout:g} s "
                f"(QOP_SANDBOX_TIMEOUT_SECONDS); {work.advice}",
                reason="TimeLimit",
            ) from error
        except ValueError as error:  # a frame over the limit: only a hostile child sends one
            raise _malformed() from error
        except OSError as error:
            raise self._abnormal(time.monotonic() - started, work) from error
        finally:
            child.sock.close()
            _kill(child.pid)
        if frame is None:
            raise self._abnormal(time.monotonic() - started, work)
        try:
            return replies.decode_reply(frame, self._limits.max_qpy_bytes)
        except replies.MalformedReplyError as error:
            raise _malformed() from error

    def _abnormal(self, elapsed: float, work: _Work) -> UserError:
        if elapsed >= self._cpu_seconds * 0.9:
            return UserError(
                f"{work.subject} used more than {self._cpu_seconds} s of CPU time "
                f"(QOP_SANDBOX_CPU_SECONDS); {work.advice}",
                reason="TimeLimit",
            )
        return UserError(
            f"{work.subject} was stopped: it went over the sandbox's memory "
            f"(QOP_SANDBOX_MEMORY_MB) or file limits{work.or_ended}; {work.advice}",
            reason="SandboxLimit",
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            children = list(self._ready)
            self._ready.clear()
            self._lock.notify_all()
        for child in children:
            child.sock.close()
            _kill(child.pid)
        if self._owner_pid == os.getpid():
            self._control.close()
            self._zygote.wait(5)


def _kill(pid: int) -> None:
    """Kill a child's whole process group (it leads one), and the child if it has none yet."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _malformed() -> UserError:
    return UserError(
        "the sandbox child sent a malformed reply: the circuit program tampered with the "
        "sandbox; build the circuit with Qiskit and let the program end",
        reason="Forbidden",
    )


_REASONS = {
    "SyntaxError": "SyntaxError",
    "NoCircuit": "NoCircuit",
    "MemoryLimit": "MemoryLimit",
    "ImportError": "Forbidden",
    "SandboxViolationError": "Forbidden",
    "PermissionError": "Forbidden",
    "CircuitTooLarge": "SandboxLimit",
}


def _zygote_environment() -> dict[str, str]:
    # Thread pools do not survive fork; one thread per child is also its fair share.
    # PYTHONMALLOC=malloc: the zygote's objects in glibc's heap rather than pymalloc's
    # arenas cost each fork and child less: benchmarks/sandbox.py run with and without
    # it, GHZ-5, gave the child 6.8 ms of CPU against 7.0-7.5, the fork 1.3 against 1.6-2.0.
    return untrusted_environment(
        OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONMALLOC="malloc"
    )
