"""Slow clients against `qop serve validate`: gunicorn's threaded worker beside the
bounded model that now serves (docs/serving.md), side by side in one run.

For each server model (QOP_SERVER_MODEL=gthread, as before; bounded, the default),
`qop serve validate` at its defaults (WORKERS=2 of MAX_WORKERS=8 threads) on
loopback gets:

- Bell as OpenQASM 2 from 8 concurrent keep-alive connections, for a while: the
  requests per second (keepalive.py's load client, in a process of its own);
- then, while N slow clients hold connections open (each announces a 100 kB body
  and sends a few bytes of it), real `POST /validate` requests of Bell one after
  another: their median, p99 and slowest latency, and how many got no answer within
  the client's timeout. N is 0, 16, 32 and 64.

Run from the repository root; it reports, and exits 1 only when a figure could not
be measured:

    .venv/bin/python benchmarks/slow_clients.py            # 20 requests a level, 5 s of load
    .venv/bin/python benchmarks/slow_clients.py --quick    # 3 a level, 1 s, levels 0 and 32
"""

# Only the standard library: keepalive.py's load client is a spawned process, and
# this module imports validate.py, which imports it.
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import keepalive
import serving
import validate
from serving import HOST

MODELS = ("gthread", "bounded")
WORKERS = 2
THREADS = 8
SLOW_BODY_BYTES = 100_000


@dataclass
class Level:
    slow_clients: int
    latencies: list[float] = field(default_factory=list)
    unanswered: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Model:
    name: str
    rate: float | None = None
    levels: list[Level] = field(default_factory=list)
    error: str = ""


@contextlib.contextmanager
def slow_clients(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that announce a 100 kB body and send a few bytes of it;
    closed on leaving."""
    with contextlib.ExitStack() as held:
        connections = []
        for _ in range(count):
            connection = held.enter_context(socket.create_connection((HOST, port), timeout=10))
            connection.sendall(
                b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {SLOW_BODY_BYTES}\r\n\r\n".encode()
                + b'{"code": '
            )
            connections.append(connection)
        yield connections


def real_request(port: int, body: bytes, timeout: float) -> float | None:
    """Seconds until a valid answer to one `POST /validate`; None when none came in time."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(
            "POST", "/validate", body=body, headers={"Content-Type": "application/json"}
        )
        answer = connection.getresponse()
        payload = answer.read()
    except (TimeoutError, OSError):
        return None
    finally:
        connection.close()
    if answer.status != 200 or json.loads(payload).get("valid") is not True:
        raise RuntimeError(f"HTTP {answer.status}: {payload[:200]!r}")
    return time.monotonic() - started


def measure_level(port: int, count: int, args: argparse.Namespace) -> Level:
    level = Level(count)
    body = validate.request_body(validate.BELL_QASM2)
    with slow_clients(port, count):
        # Give the server the time to take the slow connections in (a benchmark, not a
        # test: what it shows is what a request meets once they are in).
        time.sleep(1.0)
        for _ in range(args.requests):
            try:
                seconds = real_request(port, body, args.timeout)
            except RuntimeError as error:
                level.errors.append(str(error))
                continue
            if seconds is None:
                level.unanswered += 1
            else:
                level.latencies.append(seconds)
    # What the slow clients left behind drains before the next level.
    time.sleep(1.0)
    return level


def measure_model(name: str, clients: ProcessPoolExecutor, args: argparse.Namespace) -> Model:
    model = Model(name)
    env = {
        **os.environ,
        "WORKERS": str(WORKERS),
        "MAX_WORKERS": str(THREADS),
        "QOP_SERVER_MODEL": name,
    }
    try:
        wait = partial(validate.wait_ready, workers=WORKERS)
        with serving.served("validate", env, wait) as (server, port):
            body = validate.request_body(validate.BELL_QASM2)
            future = clients.submit(
                keepalive.load, port, server.pid, body, 8, args.warmup, args.seconds
            )
            seen = future.result(timeout=args.warmup + args.seconds + 60)
            model.rate = seen.ok / seen.seconds if seen.ok else None
            if not seen.ok:
                model.error = f"no valid answer under load; errors {seen.errors}"
            print(f"  {name}: load measured", file=sys.stderr, flush=True)
            for count in args.levels:
                model.levels.append(measure_level(port, count, args))
                print(f"  {name}: {count} slow clients measured", file=sys.stderr, flush=True)
    except Exception as error:
        model.error = f"{type(error).__name__}: {error}"
    return model


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def level_cells(level: Level | None, timeout: float) -> str:
    if level is None:
        return f"{'-':>9} {'-':>9} {'-':>9} {'-':>10}"
    if level.errors:
        return f"{'error':>9} {'':>9} {'':>9} {len(level.errors):>10}"
    answered = sorted(level.latencies)
    total = len(answered) + level.unanswered
    if not answered:
        return f"{'-':>9} {'-':>9} {f'>{timeout:g}s':>9} {f'{total}/{total}':>10}"
    # The unanswered count as the timeout itself: a floor on what they would have taken.
    counted = answered + [timeout] * level.unanswered
    p99 = counted[min(len(counted) - 1, round(0.99 * (len(counted) - 1)))]
    slowest = f">{timeout:g}s" if level.unanswered else ms(counted[-1])
    p99_cell = f">{timeout:g}s" if p99 >= timeout else ms(p99)
    return (
        f"{ms(statistics.median(counted)):>9} {p99_cell:>9} {slowest:>9} "
        f"{f'{level.unanswered}/{total}':>10}"
    )


def report(models: list[Model], args: argparse.Namespace) -> bool:
    complete = True
    print()
    print(
        f"Bell as OpenQASM 2, POST /validate, qop serve validate with WORKERS={WORKERS} "
        f"x MAX_WORKERS={THREADS}"
    )
    print(f"{'':36}" + "".join(f"{m.name:>42}" for m in models))
    rates = "".join(f"{(f'{m.rate:.0f}' if m.rate else 'FAILED'):>42}" for m in models)
    print(f"{'req/s, 8 keep-alive connections':36}{rates}")
    header = f"{'median':>9} {'p99':>9} {'slowest':>9} {'no answer':>10}"
    print(f"{'slow clients / latency (ms)':36}" + "".join(f"{header:>42}" for _ in models))
    for index, count in enumerate(args.levels):
        cells = []
        for model in models:
            level = model.levels[index] if index < len(model.levels) else None
            cells.append(f"{level_cells(level, args.timeout):>42}")
            complete = complete and level is not None and not level.errors
        print(f"{count:>36}" + "".join(cells))
    for model in models:
        if model.error:
            print(f"{model.name}: FAILED to measure: {model.error}")
            complete = False
        for level in model.levels:
            for error in level.errors[:3]:
                print(f"{model.name}, {level.slow_clients} slow clients: FAILED: {error}")
    print(
        f"\n{args.requests} real requests a level, one at a time, each on a new connection, "
        f"with a {args.timeout:g} s client timeout ('no answer': none within it). The slow "
        f"clients each announce {SLOW_BODY_BYTES} bytes and send 9."
    )
    return complete and all(m.rate for m in models)


def machine_line(load_before: float) -> str:
    return (
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test (~1 min)")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("--levels", type=int, nargs="+", default=[0, 16, 32, 64])
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.seconds, args.warmup, args.timeout = 3, 1.0, 0.5, 3.0
        args.levels = [0, 32]
    args.levels = [max(0, min(n, 256)) for n in args.levels]  # bounded in count
    load_before = os.getloadavg()[0]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as clients:
        models = [measure_model(name, clients, args) for name in MODELS]
    print(machine_line(load_before))
    complete = report(models, args)
    sys.exit(0 if complete else 1)


if __name__ == "__main__":
    main()
