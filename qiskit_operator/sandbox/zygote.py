"""The sandbox's fork server: a process that has Qiskit loaded and forks children.

Started by `SandboxPool` as `python -m qiskit_operator.sandbox.zygote FD`.
For each byte it reads on the control socket it forks one child and hands the
parent that child's end of a fresh socket pair (SCM_RIGHTS) with its pid. The
child applies its limits at once, waits for one program, runs it, replies
(msgpack, never pickle: the parent must not trust what a child sends) and exits.
"""

from __future__ import annotations

import gc
import os
import resource
import signal
import socket
import struct
import sys

import msgspec

from qiskit_operator.framing import recv_frame, send_frame
from qiskit_operator.sandbox import guard, program  # imports Qiskit once, for every child

_CHILD_WARM_UP = """
from qiskit import QuantumCircuit
qc = QuantumCircuit(2, 2)
qc.h(0); qc.cx(0, 1); qc.measure([0, 1], [0, 1])
"""
READY = b"R"  # what a child sends once it is warm and waiting for its program

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


def _apply_limits(cpu_seconds: int, memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with open("/proc/self/statm") as statm:
        baseline = int(statm.read().split()[0]) * resource.getpagesize()
    cap = baseline + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


class ChildLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What each child may use; passed to the zygote as JSON on its command line."""

    cpu_seconds: int
    memory_bytes: int
    max_source_bytes: int
    max_output_chars: int


def _child(sock: socket.socket, limits: ChildLimits) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # Touch, while idle, the pages a program will write, so that copying them
    # happens before the request rather than during it.
    program.run_program(_CHILD_WARM_UP, None)
    _apply_limits(limits.cpu_seconds, limits.memory_bytes)
    sock.sendall(READY)
    request = recv_frame(sock, limits.max_source_bytes + 1024)
    if request is None:
        os._exit(0)
    code, variable = msgspec.msgpack.decode(request)
    reply = program.run_program(
        code, variable, lock_down=lambda: guard.install(limits.max_output_chars)
    )
    send_frame(sock, msgspec.msgpack.encode(reply))
    sock.close()
    os._exit(0)


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    limits = msgspec.json.decode(sys.argv[2], type=ChildLimits)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    devnull = os.open(os.devnull, os.O_RDWR)
    program.run_program(_WARM_UP, None)
    # Children copy this heap on write: keep the collector from walking (and so
    # copying) it in every child.
    gc.freeze()
    while True:
        try:
            request = control.recv(1)
        except OSError:
            request = b""
        if not request:
            return  # the pool closed its end: the server is gone
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            control.close()
            ours.close()
            for stream in (0, 1, 2):
                os.dup2(devnull, stream)
            try:
                _child(theirs, limits)
            finally:
                os._exit(1)
        theirs.close()
        try:
            socket.send_fds(control, [struct.pack("!i", pid)], [ours.fileno()])
        except OSError:
            return  # the pool is gone
        finally:
            ours.close()


if __name__ == "__main__":
    main()
