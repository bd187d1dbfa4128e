"""How fast validate answers: one request at a time, and as many as it can.

Measures, for Bell as Python (run in the sandbox) and as OpenQASM 2, the median
and p90 latency of `Validator.inspect` in-process and of `POST /validate` over
HTTP (serial requests on one keep-alive `requests.Session`), back to back and
paced (a sleep between requests, as an editor sends them). Then the requests
per second that 8 concurrent keep-alive connections get from a real
`qop serve validate` (gunicorn) on loopback, for WORKERS=1 and WORKERS=2 with
MAX_WORKERS=8 threads each. The load client is a separate process (asyncio, one
thread) so that its GIL does not throttle it and its CPU use can be reported.
Only 200 answers with `valid: true` count; anything else is an error.

Run from the repository root (exits 1 when a figure could not be measured, not
when a target is missed):

    .venv/bin/python benchmarks/validate.py               # 200 iterations, 20 s of load
    .venv/bin/python benchmarks/validate.py --quick       # a few, 2 s of load
"""

# Only the standard library at the top: the load client is a spawned process
# that imports this module, and it must not pay for (or compete with) Qiskit.
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import signal
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import serving
from serving import HOST, ROOT

BELL_QASM2 = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\n'
    "h q[0];\ncx q[0], q[1];\nmeasure q[0] -> c[0];\nmeasure q[1] -> c[1];\n"
)
TARGET_RPS = {"OpenQASM 2": 1500.0, "Python": 300.0}
TARGET_PYTHON_P50_MS = 10.0
THREADS = 8  # MAX_WORKERS: requests one gunicorn worker serves at once
REQUEST_TIMEOUT = 30.0  # above the sandbox's 15 s wall limit


@dataclass(frozen=True, slots=True)
class Latency:
    name: str
    language: str
    back_to_back: list[float] = field(default_factory=list)
    paced: list[float] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What the load client saw in its timed window (warm-up excluded)."""

    ok: int
    errors: dict[str, int]
    seconds: float
    client_cores: float
    busy_cores: float | None  # the whole machine's, from /proc/stat
    worker_cores: list[float]  # each gunicorn worker's
    zygote_cores: list[float]  # each worker's sandbox zygote's (not its children's)


@dataclass(frozen=True, slots=True)
class Throughput:
    name: str
    language: str
    result: LoadResult | None = None
    error: str = ""

    @property
    def rps(self) -> float:
        assert self.result is not None
        return self.result.ok / self.result.seconds


def median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1e3


def p90_ms(seconds: list[float]) -> float:
    return statistics.quantiles(seconds, n=10, method="inclusive")[-1] * 1e3


def timed(step: Callable[[], object], iterations: int, warmup: int, pace: float) -> list[float]:
    for _ in range(warmup):
        step()
        time.sleep(pace)
    seconds = []
    for _ in range(iterations):
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
        time.sleep(pace)
    return seconds


def latency(
    name: str, language: str, step: Callable[[], object], n: int, w: int, pace: float
) -> Latency:
    try:
        figure = Latency(name, language, timed(step, n, w, 0.0), timed(step, n, w, pace))
    except Exception as error:  # one broken figure must not hide the others
        figure = Latency(name, language, error=f"{type(error).__name__}: {error}")
    print(f"  measured {name}", file=sys.stderr, flush=True)
    return figure


def in_process_latencies(sources: dict[str, str], n: int, w: int, pace: float) -> list[Latency]:
    from qiskit_operator import wiring
    from qiskit_operator.settings import Settings

    def failed(error: str) -> list[Latency]:
        return [Latency(f"{lang}, in-process", lang, error=error) for lang in sources]

    try:
        validator = wiring.validator(Settings.from_env())
    except Exception as error:
        return failed(f"{type(error).__name__}: {error}")
    try:
        if not validator.sandbox.wait_warm():
            return failed("the sandbox did not warm up within 60 s")
        return [
            latency(
                f"{language}, in-process", language, partial(validator.inspect, code), n, w, pace
            )
            for language, code in sources.items()
        ]
    finally:
        validator.close()


def http_latencies(
    port: int, sources: dict[str, str], n: int, w: int, pace: float
) -> list[Latency]:
    import requests

    def post(session: requests.Session, body: bytes) -> None:
        answer = session.post(
            f"http://{HOST}:{port}/validate",
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=REQUEST_TIMEOUT,
        )
        if answer.status_code != 200 or answer.json().get("valid") is not True:
            raise RuntimeError(f"HTTP {answer.status_code}: {answer.text[:200]}")

    figures = []
    with requests.Session() as session:
        session.trust_env = False  # no proxy between us and loopback
        for language, code in sources.items():
            step = partial(post, session, request_body(code))
            figures.append(latency(f"{language}, HTTP", language, step, n, w, pace))
    return figures


def request_body(code: str) -> bytes:
    payload = {"code": code, "backend_name": "aer_simulator", "optimization_level": 1}
    return json.dumps(payload).encode()


# --- the load client: runs in its own process -------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: float
    own_cpu: float
    jiffies: tuple[int, int] | None  # busy and total, machine-wide
    server: dict[int, tuple[int, float]]  # pid: (parent pid, CPU seconds), in its session


def snapshot(session: int) -> Snapshot:
    jiffies = None
    with contextlib.suppress(OSError, ValueError), open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
        jiffies = sum(values) - values[3] - values[4], sum(values)  # less idle and iowait
    server = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:
                server[int(pid)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return Snapshot(time.monotonic(), time.process_time(), jiffies, server)


def load_result(
    ok: int, errors: dict[str, int], session: int, start: Snapshot, end: Snapshot
) -> LoadResult:
    seconds = end.at - start.at
    busy = None
    if start.jiffies and end.jiffies and end.jiffies[1] > start.jiffies[1]:
        share = (end.jiffies[0] - start.jiffies[0]) / (end.jiffies[1] - start.jiffies[1])
        busy = share * (os.cpu_count() or 1)

    def cores(pids: list[int]) -> list[float]:
        used = [end.server[p][1] - start.server.get(p, (0, 0.0))[1] for p in sorted(pids)]
        return [u / seconds for u in used]

    # The tree is master > workers > zygotes > sandbox children; children come and go
    # between snapshots, so theirs is what the machine used and no one else did.
    workers = [pid for pid, (parent, _) in end.server.items() if parent == session]
    zygotes = [pid for pid, (parent, _) in end.server.items() if parent in workers]
    client = (end.own_cpu - start.own_cpu) / seconds
    return LoadResult(ok, errors, seconds, client, busy, cores(workers), cores(zygotes))


def load(
    port: int, session: int, body: bytes, connections: int, warmup: float, seconds: float
) -> LoadResult:
    """Keep `connections` keep-alive connections busy; count the timed window only."""
    return asyncio.run(_load(port, session, body, connections, warmup, seconds))


async def _load(
    port: int, session: int, body: bytes, connections: int, warmup: float, seconds: float
) -> LoadResult:
    head = (
        f"POST /validate HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    request = head.encode() + body
    start = time.monotonic()
    window = (start + warmup, start + warmup + seconds)
    cap = int((warmup + seconds) * 50_000)  # a bound besides time, far above any real rate
    tally: Counter[str] = Counter()
    sent = 0
    marks: list[Snapshot] = []

    async def mark_window() -> None:
        for edge in window:
            await asyncio.sleep(max(0.0, edge - time.monotonic()))
            marks.append(snapshot(session))

    async def client() -> None:
        nonlocal sent
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.monotonic() < window[1] and sent < cap:
            sent += 1
            outcome = "connection refused or reset"
            try:
                if streams is None:
                    streams = await asyncio.open_connection(HOST, port)
                streams[1].write(request)
                outcome, close = await asyncio.wait_for(_answer(streams[0]), REQUEST_TIMEOUT)
            except TimeoutError:
                outcome, close = "timeout", True
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                close = True
            if close and streams is not None:
                streams[1].close()
                streams = None
            if window[0] <= time.monotonic() <= window[1]:
                tally[outcome] += 1
            if close and outcome != "ok":
                await asyncio.sleep(0.05)  # do not spin on a refusing server
        if streams is not None:
            streams[1].close()

    await asyncio.gather(mark_window(), *(client() for _ in range(connections)))
    ok = tally.pop("ok", 0)
    return load_result(ok, dict(tally), session, *marks)


async def _answer(reader: asyncio.StreamReader) -> tuple[str, bool]:
    """('ok' or what went wrong, whether the connection must be closed)."""
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = dict(
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    )
    if "content-length" not in headers:
        return "answer without Content-Length", True
    body = await reader.readexactly(int(headers["content-length"]))
    close = headers.get("connection", "").lower() == "close"
    if status != 200:
        return f"HTTP {status}", close
    return ("ok" if json.loads(body).get("valid") is True else "valid is not true"), close


# --- the server under test ---------------------------------------------------------------


@contextlib.contextmanager
def served(workers: int) -> Iterator[tuple[int, int]]:
    """`qop serve validate` on loopback with `workers` gunicorn workers.

    Yields its port and its session: the gunicorn master's pid, which leads it."""
    env = {**os.environ, "WORKERS": str(workers), "MAX_WORKERS": str(THREADS)}
    with serving.served("validate", env, partial(wait_ready, workers=workers)) as (server, port):
        yield port, server.pid


def sandboxes_started(session: int, workers: int) -> bool:
    """Whether each of `workers` gunicorn workers has started its sandbox zygote."""
    tree = snapshot(session).server
    pids = {pid for pid, (parent, _) in tree.items() if parent == session}
    with_sandbox = {parent for parent, _ in tree.values() if parent in pids}
    return len(pids) == workers and with_sandbox == pids


def wait_ready(server: serving.Server, port: int, workers: int) -> None:
    """Until each worker has started its sandbox (a worker starts it on its first
    /ready or Python request) and /ready answers 200 many times in a row on fresh
    connections, which the workers share."""
    import http.client

    deadline, in_a_row = time.monotonic() + 120, 0
    while in_a_row < 10 * workers or not sandboxes_started(server.pid, workers):
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("the server was not ready within 120 s")
        connection = http.client.HTTPConnection(HOST, port, timeout=5)
        try:
            connection.request("GET", "/ready", headers={"Connection": "close"})
            ready = connection.getresponse().status == 200
        except OSError:
            ready = False
        finally:
            connection.close()
        in_a_row = in_a_row + 1 if ready else 0
        time.sleep(0.01 if ready else 0.2)


def throughput(
    clients: ProcessPoolExecutor,
    port: int,
    session: int,
    name: str,
    language: str,
    code: str,
    args: Arguments,
) -> Throughput:
    try:
        body = request_body(code)
        connections, warmup, seconds = args.connections, args.warmup, args.seconds
        future = clients.submit(load, port, session, body, connections, warmup, seconds)
        seen = future.result(timeout=warmup + seconds + REQUEST_TIMEOUT + 30)
        figure = Throughput(name, language, seen)
        if seen.ok == 0:
            figure = Throughput(name, language, error=f"no valid answer; errors {seen.errors}")
    except Exception as error:
        figure = Throughput(name, language, error=f"{type(error).__name__}: {error}")
    print(f"  measured {name}", file=sys.stderr, flush=True)
    return figure


# --- the report ----------------------------------------------------------------------------


def machine_line(load_before: float) -> str:
    import qiskit
    import qiskit_aer

    return (
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, qiskit {qiskit.__version__}, "
        f"qiskit-aer {qiskit_aer.__version__}; 1-min load average "
        f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )


def plus(cores: list[float]) -> str:
    return "+".join(f"{c:.2f}" for c in cores) or "n/a"


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def latency_table(latencies: list[Latency], width: int, pace_ms: float) -> None:
    pair = 2 * 9 + 2
    print(f"{'':<{width}}  {'back to back':^{pair}}  {f'paced {pace_ms:g} ms':^{pair}}".rstrip())
    print(
        f"{'serial latency':<{width}}  {'median ms':>9}  {'p90 ms':>9}  {'median ms':>9}  "
        f"{'p90 ms':>9}  {'iterations':>10}  target"
    )
    for f in latencies:
        if f.error:
            print(f"{f.name:<{width}}  FAILED: {f.error}")
            continue
        target = ""
        if f.language == "Python":
            back, paced = median_ms(f.back_to_back), median_ms(f.paced)
            target = (
                f"p50 <= {TARGET_PYTHON_P50_MS:g} ms: {verdict(back <= TARGET_PYTHON_P50_MS)}, "
                f"paced {verdict(paced <= TARGET_PYTHON_P50_MS)}"
            )
        print(
            f"{f.name:<{width}}  {median_ms(f.back_to_back):>9.2f}  {p90_ms(f.back_to_back):>9.2f}"
            f"  {median_ms(f.paced):>9.2f}  {p90_ms(f.paced):>9.2f}  {len(f.back_to_back):>10}"
            f"  {target}".rstrip()
        )


def throughput_table(rates: list[Throughput], width: int) -> None:
    split = len("0.98+0.64")  # two workers' figures
    cores = f"CPU cores busy, of {os.cpu_count()}"
    print(f"{'':<{width}}  {'':>7}  {'':>7}  {'':>6}  {cores:^{2 * split + 27}}".rstrip())
    print(
        f"{'throughput':<{width}}  {'req/s':>7}  {'valid':>7}  {'errors':>6}  {'machine':>7}  "
        f"{'client':>6}  {'workers':>{split}}  {'zygotes':>{split}}  {'rest':>6}  target"
    )
    for t in rates:
        if t.error or t.result is None:
            print(f"{t.name:<{width}}  FAILED: {t.error}")
            continue
        r, goal = t.result, TARGET_RPS[t.language]
        busy = rest = "n/a"
        if r.busy_cores is not None:
            busy = f"{r.busy_cores:.2f}"
            rest = f"{r.busy_cores - r.client_cores - sum(r.worker_cores + r.zygote_cores):.2f}"
        print(
            f"{t.name:<{width}}  {t.rps:>7.0f}  {r.ok:>7}  {sum(r.errors.values()):>6}  "
            f"{busy:>7}  {r.client_cores:>6.2f}  {plus(r.worker_cores):>{split}}  "
            f"{plus(r.zygote_cores):>{split}}  {rest:>6}  "
            f">= {goal:g} req/s: {verdict(t.rps >= goal)}"
        )
        for what, count in sorted(r.errors.items()):
            print(f"{'':<{width}}  error: {what} x{count}")
    print(
        "cores: CPU seconds per second counted, one figure per worker and per zygote; rest:\n"
        "the sandbox children, the kernel, gunicorn's master and any other program on the machine"
    )


def served_figures(
    workers: int, sources: dict[str, str], clients: ProcessPoolExecutor, args: Arguments
) -> tuple[list[Latency], list[Throughput]]:
    """Serial latency over HTTP (with one worker only), then throughput, on one server."""
    latencies: list[Latency] = []
    rates: list[Throughput] = []
    try:
        with served(workers) as (port, session):
            if workers == 1:
                latencies = http_latencies(port, sources, args.n, args.w, args.pace)
            for language, code in sources.items():
                name = f"{language}, WORKERS={workers}"
                rates.append(throughput(clients, port, session, name, language, code, args))
    except Exception as error:  # the server did not start, or did not stop
        message = f"{type(error).__name__}: {error}"
        if workers == 1 and not latencies:
            latencies = [Latency(f"{lang}, HTTP", lang, error=message) for lang in sources]
        done = {t.name for t in rates}
        rates += [
            Throughput(f"{lang}, WORKERS={workers}", lang, error=message)
            for lang in sources
            if f"{lang}, WORKERS={workers}" not in done
        ]
    return latencies, rates


@dataclass(frozen=True, slots=True)
class Arguments:
    n: int
    w: int
    pace: float
    connections: int
    warmup: float
    seconds: float


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200, help="timed requests per figure")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests before each")
    parser.add_argument("--pace-ms", type=float, default=20.0, help="sleep between paced requests")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed load per throughput")
    parser.add_argument("--connections", type=int, default=8, help="concurrent clients")
    parser.add_argument("--quick", action="store_true", help="10 requests, 2 s of load")
    ns = parser.parse_args(argv)
    n, w, seconds, warmup = (
        (10, 2, 2.0, 0.5) if ns.quick else (ns.iterations, ns.warmup, ns.seconds, 1.0)
    )
    if n < 2 or seconds <= 0 or ns.connections < 1:
        parser.error("a p90 needs at least 2 iterations, and load needs time and a client")
    args = Arguments(n, w, ns.pace_ms / 1e3, ns.connections, warmup, seconds)
    # A SIGTERM must still run the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = os.getloadavg()[0]
    from qiskit_operator.local.jobfile import load_job_manifest

    bell = load_job_manifest(ROOT / "examples" / "bell.yaml")["spec"]["circuit"]["code"]
    sources = {"OpenQASM 2": BELL_QASM2, "Python": str(bell)}
    latencies = in_process_latencies(sources, n, w, args.pace)
    rates: list[Throughput] = []
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as clients:
        for workers in (1, 2):
            served_latencies, served_rates = served_figures(workers, sources, clients, args)
            latencies += served_latencies
            rates += served_rates
    print(machine_line(load_before))
    print(
        f"{args.connections} concurrent keep-alive clients in one asyncio process, "
        f"MAX_WORKERS={THREADS}; {warmup:g} s warm-up, then {seconds:g} s counted"
    )
    width = max(len(name) for name in [*(f.name for f in latencies), *(t.name for t in rates)])
    latency_table(latencies, width, ns.pace_ms)
    print()
    throughput_table(rates, width)
    if any(f.error for f in latencies) or any(t.error for t in rates):
        sys.exit(1)


if __name__ == "__main__":
    main()
