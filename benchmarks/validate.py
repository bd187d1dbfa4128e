"""How fast validate answers under load, side by side with an unsandboxed floor.

One run serves `qop serve validate` as shipped (ours) and `floor_validate.py`, the
original service's model (a functions-framework function under functions-framework's
own gunicorn that runs each program in its own process with `exec`, no isolation),
with the same WORKERS and 8 threads each, on loopback. Then, in rounds that alternate
ours, floor, ours, floor..., it measures the requests per second 8 concurrent
keep-alive clients get (a separate process: `keepalive.py`) for three programs:

- Bell as Python, straight-line (ours reads it without running it);
- Bell as OpenQASM 2;
- GHZ-5 as Python with a function and a loop (ours must run it: a sandbox child).

It prints each figure's median over the rounds and their range, the ratio ours/floor
(median of the rounds' ratios), the goals (sandbox path at least 0.35x the floor,
cheap requests at least 1.0x) met or not, where the CPU went, and the machine's load.
`--against URL` adds any service that speaks `POST /validate` the same way, measured
in the same rounds. Only 200 answers with `valid: true` count.

Run from the repository root (exits 1 when a figure could not be measured, not
when a goal is missed):

    .venv/bin/python benchmarks/validate.py               # 6 rounds of 5 s each (~4 min)
    .venv/bin/python benchmarks/validate.py --quick       # 1 round of 1 s, a smoke test
    .venv/bin/python benchmarks/validate.py --against http://127.0.0.1:8000/validate
"""

# Only the standard library at the top: the load client is a spawned process that
# imports this module (through slow_clients.py too), and must not pay for Qiskit.
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urlsplit

import serving
from keepalive import REQUEST_TIMEOUT, LoadResult, load, snapshot
from serving import HOST, ROOT

BELL_PYTHON = (
    "from qiskit import QuantumCircuit\n\n"
    "qc = QuantumCircuit(2, 2)\nqc.h(0)\nqc.cx(0, 1)\nqc.measure([0, 1], [0, 1])\n"
)
BELL_QASM2 = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\n'
    "h q[0];\ncx q[0], q[1];\nmeasure q[0] -> c[0];\nmeasure q[1] -> c[1];\n"
)
GHZ_PROGRAM = (
    "from qiskit import QuantumCircuit\n\n\n"
    "def ghz(n):\n"
    "    circuit = QuantumCircuit(n, n)\n"
    "    circuit.h(0)\n"
    "    for i in range(n - 1):\n"
    "        circuit.cx(i, i + 1)\n"
    "    circuit.measure(range(n), range(n))\n"
    "    return circuit\n\n\n"
    "qc = ghz(5)\n"
)
THREADS = 8  # MAX_WORKERS (ours) and THREADS (the floor): requests one worker serves at once
FLOOR_SOURCE = ROOT / "benchmarks" / "floor_validate.py"


@dataclass(frozen=True, slots=True)
class Program:
    key: str
    name: str
    code: str
    goal: float  # ours/floor at least


PROGRAMS = (
    Program("python", "Bell, Python (straight-line)", BELL_PYTHON, 1.0),
    Program("qasm2", "Bell, OpenQASM 2", BELL_QASM2, 1.0),
    Program("sandbox", "GHZ-5, Python with def and for (sandbox)", GHZ_PROGRAM, 0.35),
)


@dataclass(frozen=True, slots=True)
class Service:
    """A server the rounds measure: where it listens, and its session on this machine."""

    name: str
    host: str
    port: int
    path: str
    session: int | None  # None: not ours to watch (--against)


@dataclass(slots=True)
class Figures:
    """One program on one service: each round's result, or why a round failed."""

    rounds: list[LoadResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def rates(self) -> list[float]:
        return [r.rps for r in self.rounds]


def request_body(code: str) -> bytes:
    payload = {"code": code, "backend_name": "aer_simulator", "optimization_level": 1}
    return json.dumps(payload).encode()


# --- the servers under test ------------------------------------------------------------


def sandboxes_started(session: int, workers: int) -> bool:
    """Whether each of `workers` gunicorn workers has started its sandbox zygote."""
    tree = snapshot(session).server
    pids = {pid for pid, (parent, _) in tree.items() if parent == session}
    with_sandbox = {parent for parent, _ in tree.values() if parent in pids}
    return len(pids) == workers and with_sandbox == pids


def workers_started(session: int, workers: int) -> bool:
    tree = snapshot(session).server
    return sum(1 for parent, _ in tree.values() if parent == session) == workers


def wait_ready(
    server: serving.Server, port: int, workers: int, path: str = "/ready", sandbox: bool = True
) -> None:
    """Until each worker has started (ours: and its sandbox, which a worker starts on its
    first /ready or Python request) and `GET path` answers 200 many times in a row on
    fresh connections, which the workers share."""
    deadline, in_a_row = time.monotonic() + 120, 0
    started = sandboxes_started if sandbox else workers_started
    while in_a_row < 10 * workers or not started(server.pid, workers):
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("the server was not ready within 120 s")
        connection = http.client.HTTPConnection(HOST, port, timeout=5)
        try:
            connection.request("GET", path, headers={"Connection": "close"})
            ready = connection.getresponse().status == 200
        except OSError:
            ready = False
        finally:
            connection.close()
        in_a_row = in_a_row + 1 if ready else 0
        time.sleep(0.01 if ready else 0.2)


@contextlib.contextmanager
def ours(workers: int) -> Iterator[Service]:
    """`qop serve validate` as shipped, with `workers` workers of THREADS threads."""
    env = {**os.environ, "WORKERS": str(workers), "MAX_WORKERS": str(THREADS)}
    with serving.served("validate", env, partial(wait_ready, workers=workers)) as (server, port):
        yield Service("ours", HOST, port, "/validate", server.pid)


@contextlib.contextmanager
def floor(workers: int) -> Iterator[Service]:
    """floor_validate.py under functions-framework's own CLI and gunicorn."""
    env = {**os.environ, "WORKERS": str(workers), "THREADS": str(THREADS)}

    def command(port: int) -> list[str]:
        return [
            *(sys.executable, "-m", "functions_framework"),
            *("--target", "validate", "--source", str(FLOOR_SOURCE)),
            *("--host", HOST, "--port", str(port)),
        ]

    wait = partial(wait_ready, workers=workers, path="/health", sandbox=False)
    with serving.served_command(command, env, wait) as (server, port):
        yield Service("floor", HOST, port, "/validate", server.pid)


def against(url: str) -> Service:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"--against takes an http:// URL, not {url!r}")
    return Service("against", parts.hostname, parts.port or 80, parts.path or "/validate", None)


# --- the rounds --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    rounds: int
    warmup: float
    seconds: float
    connections: int


def measure(
    clients: ProcessPoolExecutor, service: Service, program: Program, plan: Plan
) -> LoadResult:
    future = clients.submit(
        load,
        service.port,
        service.session,
        request_body(program.code),
        plan.connections,
        plan.warmup,
        plan.seconds,
        service.host,
        service.path,
    )
    return future.result(timeout=plan.warmup + plan.seconds + REQUEST_TIMEOUT + 30)


def run_rounds(
    services: list[Service], programs: list[Program], plan: Plan, loads: list[float]
) -> dict[tuple[str, str], Figures]:
    """Each round measures every program on every service, the services alternating."""
    figures = {(p.key, s.name): Figures() for p in programs for s in services}
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as clients:
        for round_ in range(plan.rounds):
            for program in programs:
                for service in services:
                    into = figures[(program.key, service.name)]
                    try:
                        result = measure(clients, service, program, plan)
                    except Exception as error:  # one broken round must not hide the others
                        into.failures.append(f"{type(error).__name__}: {error}")
                    else:
                        if result.ok:
                            into.rounds.append(result)
                        else:
                            into.failures.append(f"no valid answer; errors {result.errors}")
                    print(
                        f"  round {round_ + 1}/{plan.rounds}: {program.key} on {service.name}",
                        file=sys.stderr,
                        flush=True,
                    )
            loads.append(os.getloadavg()[0])
    return figures


# --- the report ------------------------------------------------------------------------


def machine_line() -> str:
    import qiskit
    import qiskit_aer

    return (
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, qiskit {qiskit.__version__}, "
        f"qiskit-aer {qiskit_aer.__version__}"
    )


def spread(values: list[float], digits: int) -> str:
    if not values:
        return "n/a"
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def ratios(mine: Figures, other: Figures) -> list[float]:
    """Round by round: a round measured ours, then the other, under the same load."""
    pairs = zip(mine.rounds, other.rounds, strict=False)
    return [m.rps / o.rps for m, o in pairs if o.rps > 0]


def rate_table(
    figures: dict[tuple[str, str], Figures], programs: list[Program], services: list[Service]
) -> bool:
    """The req/s and ratios; whether every goal was met."""
    others = [s.name for s in services if s.name != "ours"]
    title = "req/s, median (range) of rounds"
    width = max(len(title), *(len(p.name) for p in programs))
    head = f"{title:<{width}}"
    head += "".join(f"  {name[:22]:>22}" for name in ["ours", *others])
    head += "".join(f"  {'ours/' + name[:16]:>22}" for name in others)
    print(head + "  goal")
    all_met = True
    for program in programs:
        line = f"{program.name:<{width}}"
        for name in ["ours", *others]:
            line += f"  {spread(figures[(program.key, name)].rates(), 0):>22}"
        goal = ""
        for name in others:
            ratio = ratios(figures[(program.key, "ours")], figures[(program.key, name)])
            line += f"  {spread(ratio, 2):>22}"
            if name == "floor" or (not goal and name == others[0]):
                met = bool(ratio) and statistics.median(ratio) >= program.goal
                all_met = all_met and met
                goal = f"ours/{name[:16]} >= {program.goal:.2f}x: {'met' if met else 'NOT met'}"
        print(f"{line}  {goal}".rstrip())
    return all_met


def cpu_table(
    figures: dict[tuple[str, str], Figures], programs: list[Program], services: list[Service]
) -> None:
    """Where the CPU went, medians over the rounds, in cores (CPU seconds per second)."""
    width = max(len(p.name) for p in programs) + 8
    print(
        f"{'CPU cores, median of rounds':<{width}}  {'machine':>7}  {'client':>6}  "
        f"{'server':>6}  {'workers':>9}  {'zygotes':>9}  {'rest':>5}"
    )
    for program in programs:
        for service in services:
            rounds = figures[(program.key, service.name)].rounds
            if not rounds:
                continue

            def med(values: list[float | None]) -> str:
                known = [v for v in values if v is not None]
                return f"{statistics.median(known):.2f}" if known else "n/a"

            rest = [
                r.busy_cores - r.client_cores - r.server_cores
                for r in rounds
                if r.busy_cores is not None and r.server_cores is not None
            ]
            workers = med([sum(r.worker_cores) for r in rounds]) if service.session else "n/a"
            zygotes = med([sum(r.zygote_cores) for r in rounds]) if service.session else "n/a"
            busy = med([r.busy_cores for r in rounds])
            client = med([r.client_cores for r in rounds])
            print(
                f"{f'{program.key} on {service.name[:20]}':<{width}}  {busy:>7}  {client:>6}  "
                f"{med([r.server_cores for r in rounds]):>6}  {workers:>9}  {zygotes:>9}  "
                f"{med(list(rest)):>5}"
            )
    print(
        "server: the whole process tree that lives through the window (master, workers, zygotes);\n"
        "rest: the rest of the machine: ours's sandbox children, which come and go, and any\n"
        "other program on it"
    )


def errors_seen(
    figures: dict[tuple[str, str], Figures], programs: list[Program], services: list[Service]
) -> bool:
    """Print answers that did not count and rounds that failed; whether any round failed."""
    failed = False
    for program in programs:
        for service in services:
            found = figures[(program.key, service.name)]
            counted: dict[str, int] = {}
            for result in found.rounds:
                for what, count in result.errors.items():
                    counted[what] = counted.get(what, 0) + count
            for what, count in sorted(counted.items()):
                print(f"{program.key} on {service.name}: not counted: {what} x{count}")
            for failure in found.failures:
                print(f"{program.key} on {service.name}: a round FAILED: {failure}")
                failed = True
    return failed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="rounds per program and service")
    parser.add_argument("--seconds", type=float, default=5.0, help="counted load per round")
    parser.add_argument("--warmup", type=float, default=1.0, help="uncounted load before it")
    parser.add_argument("--connections", type=int, default=8, help="concurrent clients")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="worker processes, each server"
    )
    parser.add_argument(
        "--program",
        action="append",
        choices=[p.key for p in PROGRAMS],
        help="only these programs (repeat it); all three by default",
    )
    parser.add_argument("--against", metavar="URL", help="also measure this POST /validate URL")
    parser.add_argument("--no-floor", action="store_true", help="do not serve the floor")
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s, a smoke test")
    ns = parser.parse_args(argv)
    plan = (
        Plan(1, 0.3, 1.0, ns.connections)
        if ns.quick
        else Plan(ns.rounds, ns.warmup, ns.seconds, ns.connections)
    )
    if plan.rounds < 1 or plan.seconds <= 0 or plan.connections < 1:
        parser.error("it needs at least a round, some time and a client")
    programs = [p for p in PROGRAMS if not ns.program or p.key in ns.program]
    # A SIGTERM must still run the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = os.getloadavg()[0]
    loads: list[float] = []
    with contextlib.ExitStack() as stack:
        services = [stack.enter_context(ours(ns.workers))]
        if not ns.no_floor:
            services.append(stack.enter_context(floor(ns.workers)))
        if ns.against:
            services.append(against(ns.against))
        print("  servers ready", file=sys.stderr, flush=True)
        figures = run_rounds(services, programs, plan, loads)
    print(machine_line())
    print(
        f"load: 1-min load average {load_before:.2f} before, "
        f"{min(loads):.2f}-{max(loads):.2f} between rounds, {os.getloadavg()[0]:.2f} after"
    )
    print(
        f"{plan.connections} keep-alive clients in one asyncio process on loopback; "
        f"{plan.rounds} round(s) of {plan.warmup:g} s warm-up + {plan.seconds:g} s counted "
        f"per program and service, services alternating in each round\n"
        f"ours: qop serve validate, WORKERS={ns.workers}, MAX_WORKERS={THREADS}; "
        f"floor: benchmarks/floor_validate.py under functions-framework, WORKERS={ns.workers}, "
        f"THREADS={THREADS}, exec in the worker, no isolation"
        + (f"\nagainst: POST {ns.against}" if ns.against else "")
    )
    print()
    met = rate_table(figures, programs, services) if len(services) > 1 else True
    if len(services) == 1:
        for program in programs:
            print(f"{program.name}: {spread(figures[(program.key, 'ours')].rates(), 0)} req/s")
    print(f"goals: {'all met' if met else 'NOT all met'}")
    print()
    cpu_table(figures, programs, services)
    if errors_seen(figures, programs, services):
        sys.exit(1)


if __name__ == "__main__":
    main()
