"""A separate process that runs simulations, so a time limit can stop one.

Started by `IsolatedRunner` as `python -m qiskit_operator.execution.worker FD LIMITS`.
Once Qiskit and Aer are imported (their imports want a temporary directory and
/proc), while it has one thread only, it confines itself for good
(`sandbox.confinement`: seccomp, Landlock, resource limits), before it reads
any QPY: the circuits it loads and the simulator it runs can start no process,
open no socket and write no file; Aer's and OpenMP's threads, started later,
inherit all of it. Then it reads a workload frame, runs it with its own
`ProviderRunner` (Aer, or a provider family's local mode) and replies with the
outcome (`messages`), over and over; when a run passes its deadline the parent
kills its process group and starts another. A sweep's progress goes to the parent
as frames of their own before the outcome (`messages.Progressed`).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from functools import partial

import msgspec

from qiskit_operator.caches import WORKER
from qiskit_operator.circuits.declarations import ONE_CIRCUIT, SizeLimits
from qiskit_operator.errors import UserError
from qiskit_operator.execution import messages
from qiskit_operator.execution.aer import AerRunner
from qiskit_operator.framing import recv_frame, send_frame
from qiskit_operator.providers.running import ProviderRunner
from qiskit_operator.sandbox.confinement import Confinement
from qiskit_operator.sandbox.rlimits import ResourceLimits


class WorkerLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What the worker may use; passed as JSON on its command line."""

    memory_bytes: int
    require_isolation: bool = False
    # What a circuit may declare and unroll to, checked while its QPY is read
    # (`declarations`, `expansion`).
    sizes: SizeLimits = ONE_CIRCUIT
    max_noise_model_qubits: int = 32
    # Provider families to run once before confinement (`providers.running`).
    prepared: tuple[str, ...] = ()


def confine(limits: WorkerLimits) -> None:
    """Confine this process; Landlock binds only the calling thread and what it starts,
    so any thread already running (none, with OPENBLAS_NUM_THREADS=1) is refused."""
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise RuntimeError(f"the worker has {threads} threads before confining itself; want 1")
    Confinement(
        ResourceLimits(
            # The worker serves job after job: its deadline, not a CPU limit, stops one.
            cpu_seconds=None,
            memory_bytes=limits.memory_bytes,
            # Aer's threads count against RLIMIT_NPROC, with every process of the same
            # user: seccomp, which allows threads only, is what stops new processes.
            max_processes=None,
            max_open_files=64,
        ),
        required=limits.require_isolation,
    ).apply(all_threads=True)


PREPARE_SETTLE_SECONDS = 30.0
"""How long a provider's preparation may take to end the threads it started (Braket's
local simulator runs its task on a short-lived thread) before confinement refuses them."""


def _settle_threads(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while len(os.listdir("/proc/self/task")) > 1 and time.monotonic() < deadline:
        time.sleep(0.05)


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    limits = msgspec.json.decode(sys.argv[2], type=WorkerLimits)
    runner = ProviderRunner(
        AerRunner(max_noise_model_qubits=limits.max_noise_model_qubits, process=WORKER)
    )
    for family in limits.prepared:
        runner.prepare(family)
    if limits.prepared:
        _settle_threads(PREPARE_SETTLE_SECONDS)
    confine(limits)
    while True:
        frame = recv_frame(sock, messages.MAX_WORKLOAD)
        if frame is None:
            return
        try:
            work = messages.workload_of(messages.decode_workload(frame), limits.sizes)
            outcome = runner.run(work, partial(_send_progress, sock))
            reply = messages.encode_outcome(outcome, runner.cache_counts())
        except UserError as error:
            reply = messages.encode_failure(error.message, error.reason, runner.cache_counts())
        except Exception as error:  # Aer's own failures: the job fails, the worker stays
            reply = messages.encode_failure(
                f"the simulation failed: {error}", "SimulationFailed", runner.cache_counts()
            )
        send_frame(sock, reply)


def _send_progress(sock: socket.socket, done: int, total: int) -> None:
    send_frame(sock, messages.encode_progress(done, total))


if __name__ == "__main__":
    main()
