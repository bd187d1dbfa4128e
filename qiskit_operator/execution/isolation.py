"""Runs a workload in the worker process and stops it at its deadline.

Used by execute for jobs with `execution.maxExecutionTime`: Aer cannot be
interrupted inside a process, but a process can be killed, at its deadline or
when its job is cancelled (`cancel`, from another thread). The worker stays up
between jobs (Qiskit and Aer imported once); a killed one is replaced on the
next run. The worker confines itself (`worker`) and leads a process group of
its own, which is killed whole; what it replies is decoded as hostile input
(`messages`), its progress frames included: each must count up within the sweep.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import msgspec

from qiskit_operator.caches import RemoteCacheCounts
from qiskit_operator.circuits.declarations import ONE_CIRCUIT, SizeLimits
from qiskit_operator.circuits.serialization import to_qpy
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.execution import messages
from qiskit_operator.execution.aer import Outcome, Workload
from qiskit_operator.execution.progress import ProgressReport
from qiskit_operator.execution.worker import WorkerLimits
from qiskit_operator.framing import recv_frame, send_frame
from qiskit_operator.providers.running import PREPARED_BEFORE_CONFINEMENT
from qiskit_operator.sandbox import confinement
from qiskit_operator.sandbox.environment import untrusted_environment

# Address space on top of what the worker has mapped once Qiskit and Aer are loaded
# and of the simulation's own memory: transpiling, results, each OpenMP thread's stack.
_HEADROOM_BYTES = 1 << 30
_JOB_LIMIT = "execution.maxExecutionTime"
_PER_CORE_BYTES = 64 << 20


class IsolatedRunner:
    def __init__(
        self,
        *,
        simulation_memory_bytes: int = 2 << 30,
        require_isolation: bool = False,
        sizes: SizeLimits = ONE_CIRCUIT,
        max_noise_model_qubits: int = 32,
    ) -> None:
        self._lock = threading.Lock()  # one simulation at a time owns the worker
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._limits = WorkerLimits(
            memory_bytes=simulation_memory_bytes
            + _HEADROOM_BYTES
            + (os.cpu_count() or 1) * _PER_CORE_BYTES,
            require_isolation=require_isolation,
            sizes=sizes,
            max_noise_model_qubits=max_noise_model_qubits,
        )
        self._isolation: confinement.Isolation | None = None
        self._caches = RemoteCacheCounts()
        # Which job the worker runs now, and whether it was cancelled: read and set by
        # `cancel` from another thread while `run_message` holds the lock above.
        self._running_lock = threading.Lock()
        self._running: str | None = None
        self._cancelled = False

    def isolation(self) -> confinement.Isolation:
        """What the kernel offers the worker (it confines itself with all of it)."""
        if self._isolation is None:
            self._isolation = confinement.available()
        return self._isolation

    def _start(self) -> socket.socket:
        if self._process is not None and self._process.poll() is None and self._sock:
            return self._sock
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qiskit_operator.execution.worker",
                str(theirs.fileno()),
                msgspec.json.encode(self._limits).decode(),
            ],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,  # its own process group, killed whole
            env=_worker_environment(),
        )
        theirs.close()
        self._sock = ours
        return ours

    def run(self, work: Workload, timeout: float) -> Outcome:
        return self.run_message(messages.workload_message(work, to_qpy(work.circuit)), timeout)

    def run_message(
        self,
        work: messages.WorkloadMessage,
        timeout: float,
        limit: str = _JOB_LIMIT,
        progress: ProgressReport | None = None,
        job: str | None = None,
    ) -> Outcome:
        """Run `work` in the worker; its QPY is loaded there, never in this process.

        `limit` names the setting or field that set `timeout`, for the message of a
        simulation stopped at it; `progress` hears the worker's count of a sweep's sets;
        `job` names the run for `cancel`.
        """
        with self._lock:
            self._prepare_for(work.family)
            sock = self._start()
            with self._running_lock:
                self._running, self._cancelled = job, False
            try:
                return self._exchange(sock, work, timeout, limit, progress)
            finally:
                with self._running_lock:
                    self._running = None

    def cancel(self, job: str) -> bool:
        """Kill the worker if it is running `job` now: its run ends with `JobCancelledError`
        at once (the whole process group dies; a new worker starts on the next run)."""
        with self._running_lock:
            process = self._process
            if self._running != job or process is None or process.poll() is not None:
                return False
            self._cancelled = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            return True

    def _exchange(
        self,
        sock: socket.socket,
        work: messages.WorkloadMessage,
        timeout: float,
        limit: str,
        progress: ProgressReport | None,
    ) -> Outcome:
        """One run's exchange with the worker, under `run_message`'s lock."""
        deadline = time.monotonic() + timeout
        try:
            sock.settimeout(timeout)
            send_frame(sock, messages.encode_workload(work))
            return self._reply(sock, deadline, len(work.parameter_values), progress)
        except TimeoutError as error:
            self._stop()
            raise UserError(
                f"the simulation ran longer than {limit} ({timeout:g} s) "
                "and was stopped; raise the limit, or use fewer shots or qubits",
                reason="TimeLimit",
            ) from error
        except UserError:  # the worker's own refusal, or a cancel (a ValueError too)
            raise
        # A frame over the limit, or one of no reply of the protocol (MalformedReplyError
        # is a ValueError): only a hostile worker sends one.
        except ValueError as error:
            self._stop()
            raise _malformed() from error
        except OSError as error:
            self._stop()
            if self._cancelled:
                raise JobCancelledError() from error
            raise TransientError(f"the simulation worker failed: {error}") from error

    def _reply(
        self, sock: socket.socket, deadline: float, sets: int, progress: ProgressReport | None
    ) -> Outcome:
        """Frames up to the worker's reply, all within `deadline`; progress on the way
        goes to `progress`. A worker that counts anything but up is malformed, so it
        sends at most `sets` progress frames before its reply."""
        done = 0
        while True:
            sock.settimeout(max(0.0, deadline - time.monotonic()) or 1e-6)
            frame = recv_frame(sock, messages.MAX_REPLY)
            if frame is None:
                code = self._stop()
                if self._cancelled:
                    raise JobCancelledError()
                raise TransientError(
                    f"the simulation worker died (exit code {code}); it may have run out of memory"
                )
            reply = messages.decode_frame(frame, self._caches)
            if not isinstance(reply, messages.Progressed):
                return reply
            done = messages.check_progress(reply, sets, done)
            if progress is not None:
                progress(done, sets)

    def _prepare_for(self, family: str) -> None:
        """A family that must run before confinement, first asked for now: the worker is
        replaced by one that prepared it (and every family prepared before)."""
        if family in PREPARED_BEFORE_CONFINEMENT and family not in self._limits.prepared:
            self._stop()
            prepared = (*self._limits.prepared, family)
            self._limits = msgspec.structs.replace(self._limits, prepared=prepared)

    def _stop(self) -> int | None:
        code = None
        if self._process is not None:
            # The whole group: nothing the worker might have started outlives it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)
            code = self._process.wait(10)
        if self._sock is not None:
            self._sock.close()
        self._process, self._sock = None, None
        self._caches.restarted()
        return code

    def close(self) -> None:
        with self._lock:
            self._stop()


class JobCancelledError(UserError):
    """The job was cancelled while its simulation ran; the worker was killed."""

    def __init__(self) -> None:
        super().__init__(
            "the job was cancelled while it ran; its simulation was stopped",
            reason="Cancelled",
        )


def _malformed() -> UserError:
    return UserError(
        "the simulation worker sent a malformed reply; the circuit tampered with the simulator",
        reason="SimulationFailed",
    )


def _worker_environment() -> dict[str, str]:
    return untrusted_environment(
        ("OMP_NUM_THREADS",),
        # OpenBLAS starts its threads when numpy loads, before the worker confines
        # itself, and Landlock would not bind them; Aer's parallelism is OpenMP's, later.
        OPENBLAS_NUM_THREADS="1",
        # Each thread's malloc arena reserves 64 MiB of address space: keep the count
        # of arenas, and so the memory limit's headroom, small.
        MALLOC_ARENA_MAX="2",
    )
