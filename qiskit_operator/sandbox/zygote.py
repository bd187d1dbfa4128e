"""The sandbox's fork server: a process that has Qiskit loaded and forks children.

Started by `SandboxPool` as `python -m qiskit_operator.sandbox.zygote FD LIMITS`.
For each byte it reads on the control socket it forks one child and hands the
parent that child's end of a fresh socket pair (SCM_RIGHTS) with its pid. The
zygote prepares, once, what every child would otherwise redo: Qiskit's lazily built
state (a warm-up program), the kernel's confinement (`confinement`: the seccomp
filter compiled, the Landlock ruleset built), the Python guard's tables and the
program's builtins; it freezes its heap for the collector and collapses it into
huge pages (`hugepages`), so that a fork copies and an exit frees little. Each
child, in a process group of its own, confines itself for good, waits for one
program, runs it, replies (`replies`: typed msgpack, never pickle) and exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import socket
import struct
import sys
from dataclasses import dataclass

import msgspec

from qiskit_operator.framing import recv_frame, send_frame
from qiskit_operator.sandbox import guard, hugepages, parsing, program, replies  # Qiskit once
from qiskit_operator.sandbox.confinement import Confinement
from qiskit_operator.sandbox.rlimits import ResourceLimits

READY = b"R"  # what a child sends once it is confined and waiting for its program

# Run once in the zygote so that every child inherits Qiskit's lazily built
# state (gate classes, QPY tables) instead of building it on the request path.
_WARM_UP = """
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.circuit.library import QFTGate, efficient_su2, real_amplitudes
from qiskit.quantum_info import SparsePauliOp, Statevector
import numpy, math
qft = QuantumCircuit(3)
qft.append(QFTGate(3), range(3))
ansatz = efficient_su2(3, reps=1)
ansatz.assign_parameters(numpy.zeros(ansatz.num_parameters))
theta = Parameter("theta")
qc = QuantumCircuit(3, 3)
qc.h(0); qc.x(1); qc.y(2); qc.z(0); qc.s(1); qc.sdg(1); qc.t(2); qc.tdg(2); qc.sx(0)
qc.rx(theta, 0); qc.ry(0.1, 1); qc.rz(0.2, 2); qc.p(0.3, 0); qc.u(0.1, 0.2, 0.3, 1)
qc.cx(0, 1); qc.cz(1, 2); qc.cy(0, 2); qc.swap(0, 1); qc.ccx(0, 1, 2); qc.cp(0.4, 0, 2)
qc.rzz(0.5, 0, 1); qc.barrier(); qc.reset(2)
qc.measure([0, 1, 2], [0, 1, 2])
"""


class ChildLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What each child may use; passed to the zygote as JSON on its command line."""

    cpu_seconds: int
    memory_bytes: int
    max_source_bytes: int
    max_output_chars: int
    max_qpy_bytes: int = 16 << 20
    max_open_files: int = 32
    python_guard: bool = True
    """Off only in tests that prove the kernel layers hold alone (QOP_SANDBOX_PYTHON_GUARD)."""
    require_isolation: bool = False
    """A child that cannot confine itself fully exits instead of running a program."""


_PR_SET_PDEATHSIG = 1
_OOM_SCORE_ADJ = "1000"
_MAX_USER_TASKS = 4096
_libc = ctypes.CDLL(None, use_errno=True)


def _child(
    sock: socket.socket,
    limits: ChildLimits,
    confinement: Confinement,
    lock_down: guard.Guard | None,
) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # Die with the zygote: no child outlives the pool that would have killed it.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # First to go when the pod runs out of memory: children together may ask for more
    # than the pod's limit (each has QOP_SANDBOX_MEMORY_MB of address space), and the
    # kernel then kills the one that ran over, not the server or the zygote. Raising
    # one's own score needs no privilege; Landlock forbids it once applied.
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as score:
        score.write(_OOM_SCORE_ADJ)
    # No warm-up program here: it copied, before the request, mostly the pages the
    # program then copies anyway, and cost every child about 1 ms of CPU more.
    confinement.apply()
    sock.sendall(READY)
    request = recv_frame(sock, limits.max_source_bytes + 4096)
    if request is None:
        os._exit(0)
    asked = replies.decode_request(request)
    if asked.language == "qasm3":
        result = parsing.parse(asked.code)
    else:
        result = program.run_program(
            asked.code,
            asked.variable,
            lock_down=lock_down.install if lock_down is not None else None,
            restrict_imports=limits.python_guard,
        )
    if result[0] == "ok" and len(result[1]) > limits.max_qpy_bytes:
        result = [
            "error",
            "CircuitTooLarge",
            f"the circuit's QPY is {len(result[1])} bytes, over the sandbox's "
            f"{limits.max_qpy_bytes}-byte limit; build a smaller circuit",
            None,
        ]
    send_frame(sock, replies.encode(replies.reply_from_result(result)))
    sock.close()
    os._exit(0)


def _confinement(limits: ChildLimits) -> Confinement:
    return Confinement(
        ResourceLimits(
            cpu_seconds=limits.cpu_seconds,
            memory_bytes=limits.memory_bytes,
            # Counts every task of this uid on the whole node, threads too, without
            # user namespaces: other pods running as uid 1000 count against it, so it
            # sits well above what a busy node's pods hold (512 made children fail to
            # start a thread beside a neighbour holding 600). seccomp stops new
            # processes; a child's threads are bounded by its address space (each
            # stack reserves 8 MiB) and the pod's pids limit. Root is exempt.
            max_processes=_MAX_USER_TASKS,
            max_open_files=limits.max_open_files,
        ),
        required=limits.require_isolation,
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the zygote builds once and every child inherits."""

    limits: ChildLimits
    confinement: Confinement
    lock_down: guard.Guard | None
    devnull: int


def prepare(limits: ChildLimits) -> Prepared:
    """Everything a child would otherwise do for itself, done once in this process.

    Also used by benchmarks/sandbox.py, which forks children the way `main` does."""
    devnull = os.open(os.devnull, os.O_RDWR)
    program.run_program(_WARM_UP, None)
    parsing.parse(parsing.WARM_UP)
    confinement = _confinement(limits)
    lock_down = guard.Guard(limits.max_output_chars) if limits.python_guard else None
    # Children copy this heap on write: keep the collector from walking (and so
    # copying) it in every child.
    gc.freeze()
    hugepages.collapse_heap()
    return Prepared(limits, confinement, lock_down, devnull)


def fork_child(prepared: Prepared, *inherited: socket.socket) -> tuple[int, socket.socket]:
    """Fork one child; its pid and this side's end of its socket. The child closes
    `inherited` (sockets it must not keep), confines itself, serves one program, exits."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        for sock in (*inherited, ours):
            sock.close()
        for stream in (0, 1, 2):
            os.dup2(prepared.devnull, stream)
        try:
            _child(theirs, prepared.limits, prepared.confinement, prepared.lock_down)
        finally:
            os._exit(1)
    # Also here, so the group exists before the pool can kill it, whoever runs first.
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    theirs.close()
    return pid, ours


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    limits = msgspec.json.decode(sys.argv[2], type=ChildLimits)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    prepared = prepare(limits)
    while True:
        try:
            request = control.recv(1)
        except OSError:
            request = b""
        if not request:
            return  # the pool closed its end: the server is gone
        pid, ours = fork_child(prepared, control)
        try:
            socket.send_fds(control, [struct.pack("!i", pid)], [ours.fileno()])
        except OSError:
            return  # the pool is gone
        finally:
            ours.close()


if __name__ == "__main__":
    main()
