"""Runs a workload in the worker process and stops it at its deadline.

Used by execute for jobs with `execution.maxExecutionTime`: Aer cannot be
interrupted inside a process, but a process can be killed. The worker stays up
between jobs (Qiskit and Aer imported once); a killed one is replaced on the
next run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading

from qiskit_operator.circuits.serialization import to_qpy
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.execution.aer import Outcome, Workload
from qiskit_operator.execution.worker import MAX_FRAME, decode_reply, encode_workload
from qiskit_operator.framing import recv_frame, send_frame


class IsolatedRunner:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # one simulation at a time owns the worker
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None

    def _start(self) -> socket.socket:
        if self._process is not None and self._process.poll() is None and self._sock:
            return self._sock
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "qiskit_operator.execution.worker", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            close_fds=True,
        )
        theirs.close()
        self._sock = ours
        return ours

    def run(self, work: Workload, timeout: float) -> Outcome:
        with self._lock:
            sock = self._start()
            sock.settimeout(timeout)
            try:
                send_frame(sock, encode_workload(work, to_qpy(work.circuit)))
                frame = recv_frame(sock, MAX_FRAME)
            except TimeoutError as error:
                self._stop()
                raise UserError(
                    f"the simulation ran longer than execution.maxExecutionTime ({timeout:g} s) "
                    "and was stopped; raise the limit, or use fewer shots or qubits",
                    reason="TimeLimit",
                ) from error
            except OSError as error:
                self._stop()
                raise TransientError(f"the simulation worker failed: {error}") from error
            if frame is None:
                code = self._stop()
                raise TransientError(
                    f"the simulation worker died (exit code {code}); it may have run out of memory"
                )
            return decode_reply(frame)

    def _stop(self) -> int | None:
        code = None
        if self._process is not None:
            if self._process.poll() is None:
                os.kill(self._process.pid, signal.SIGKILL)
            code = self._process.wait(10)
        if self._sock is not None:
            self._sock.close()
        self._process, self._sock = None, None
        return code

    def close(self) -> None:
        with self._lock:
            self._stop()
