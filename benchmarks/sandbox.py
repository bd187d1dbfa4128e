"""What the kernel's confinement of a sandbox child costs, and a Python circuit end to end.

    .venv/bin/python benchmarks/sandbox.py [--iterations 200] [--quick]

Prints, in milliseconds: compiling the seccomp filter and building the Landlock
ruleset (once per zygote or worker); a fork of a process that has Qiskit loaded,
with and without confining the child (Landlock enforced, rlimits set, the
filter loaded; timed from before the fork until the child says it is done);
`Confinement.apply()` alone, timed inside the child; and `SandboxPool.run` of
the Bell program (the request path: children confine themselves as soon as they
are forked, before they take a request). Then what each child costs the machine,
which is what bounds validate's throughput on the sandbox path: children forked
the way the zygote forks them (`zygote.prepare` and `zygote.fork_child`), each
running one program, Bell or GHZ-5 with a function and a loop; the CPU the child
used from fork to exit and its page faults (from wait4), and the CPU the fork took
in the parent. Figures move with the machine's load: the first line names the
machine and its load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qiskit

from qiskit_operator.framing import recv_frame, send_frame
from qiskit_operator.sandbox import confinement, landlock, replies, seccomp, zygote
from qiskit_operator.sandbox.pool import SandboxPool
from qiskit_operator.sandbox.rlimits import ResourceLimits

BELL = (
    "from qiskit import QuantumCircuit\n"
    "qc = QuantumCircuit(2, 2)\nqc.h(0)\nqc.cx(0, 1)\nqc.measure([0, 1], [0, 1])\n"
)
GHZ = (
    "from qiskit import QuantumCircuit\n\n\ndef ghz(n):\n    circuit = QuantumCircuit(n, n)\n"
    "    circuit.h(0)\n    for i in range(n - 1):\n        circuit.cx(i, i + 1)\n"
    "    circuit.measure(range(n), range(n))\n    return circuit\n\n\nqc = ghz(5)\n"
)
LIMITS = ResourceLimits(cpu_seconds=10, memory_bytes=1 << 30, max_processes=1, max_open_files=32)


def once(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def forks(iterations: int, confine: bool) -> tuple[list[float], list[float]]:
    """(fork until the child is done, apply() inside the child), in ms, per iteration."""
    prepared = confinement.Confinement(LIMITS, required=False)
    total, inside = [], []
    for _ in range(iterations):
        read, write = os.pipe()
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            began = time.perf_counter()
            if confine:
                prepared.apply()
            os.write(write, struct.pack("d", (time.perf_counter() - began) * 1000))
            os._exit(0)
        (applied,) = struct.unpack("d", os.read(read, 8))
        total.append((time.perf_counter() - started) * 1000)
        inside.append(applied)
        os.waitpid(pid, 0)
        os.close(read)
        os.close(write)
    return total, inside


def child_costs(
    prepared: zygote.Prepared, code: str, iterations: int
) -> tuple[list[float], list[float], list[float]]:
    """(a child's CPU from fork to exit, its page faults, the fork's CPU in this
    process) per program run, the child forked and fed as the zygote and pool do."""
    request = replies.encode(replies.ProgramRequest(code, None))
    child, faults, parent = [], [], []
    for _ in range(iterations):
        before = resource.getrusage(resource.RUSAGE_SELF)
        pid, sock = zygote.fork_child(prepared)
        after = resource.getrusage(resource.RUSAGE_SELF)
        with sock:
            if sock.recv(1) != zygote.READY:
                raise RuntimeError("a child did not start")
            send_frame(sock, request)
            reply = recv_frame(sock, 1 << 26)
        _, _, used = os.wait4(pid, 0)
        if reply is None or not isinstance(
            replies.decode_reply(reply, 1 << 26), replies.ProgramBuilt
        ):
            raise RuntimeError("a child built no circuit")
        child.append((used.ru_utime + used.ru_stime) * 1000)
        faults.append(float(used.ru_minflt))
        spent = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        parent.append(spent * 1000)
    return child, faults, parent


def row(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{name:<44} {statistics.median(values):9.3f} {p90:9.3f} {len(values):6d}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    iterations = 10 if args.quick else args.iterations
    load_before = os.getloadavg()[0]
    offered = confinement.available()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, qiskit {qiskit.__version__}, load {load_before:.2f}"
    )
    print(f"isolation offered: {offered}")
    print(f"{'once per zygote or worker':<44} {'ms':>9}")
    print(f"{'compile the seccomp filter':<44} {once(seccomp.compile_filter):9.3f}")
    abi = landlock.abi_version()
    if abi:
        ruleset = landlock.ruleset_for(abi, confinement.readable_roots())
        built = once(lambda: os.close(landlock.build(ruleset)))
        print(f"{'build the Landlock ruleset':<44} {built:9.3f}")
    print(f"{'per child':<44} {'median':>9} {'p90':>9} {'n':>6}")
    plain, _ = forks(iterations, confine=False)
    confined, inside = forks(iterations, confine=True)
    print(row("fork, child exits", plain))
    print(row("fork, child confines itself, exits", confined))
    print(row("Confinement.apply() in the child", inside))
    pool = SandboxPool(warm=2)
    try:
        if not pool.wait_warm(60):
            print("FAILED: the sandbox did not warm up")
            return 1
        for _ in range(3):
            pool.run(BELL)
        runs = []
        for _ in range(iterations):
            started = time.perf_counter()
            pool.run(BELL)
            runs.append((time.perf_counter() - started) * 1000)
            pool.wait_warm(10)  # measure a request, not a refill
        print(row("SandboxPool.run(Bell), a warm child", runs))
    finally:
        pool.close()
    # Last: preparing as the zygote does freezes this process's heap and collapses it.
    limits = zygote.ChildLimits(
        cpu_seconds=10, memory_bytes=1 << 30, max_source_bytes=1 << 20, max_output_chars=1 << 16
    )
    prepared = zygote.prepare(limits)
    print(f"{'a child, forked as the zygote forks it':<44} {'median':>9} {'p90':>9} {'n':>6}")
    for name, code in (("Bell", BELL), ("GHZ-5", GHZ)):  # GHZ-5: a def and a for loop
        child_costs(prepared, code, 3)
        child, faults, parent = child_costs(prepared, code, iterations)
        print(row(f"{name}: child's CPU, fork to exit, ms", child))
        print(row(f"{name}: child's page faults", faults))
        print(row(f"{name}: fork's CPU in the zygote, ms", parent))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
