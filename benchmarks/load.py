"""How much each function serves under load, and how many pods Knative would run for it.

First a bounded load test on loopback: for each function one `qop serve NAME` set up as
one pod of its Knative Service (WORKERS, MAX_WORKERS and OMP_NUM_THREADS from
knative/services.yaml), and 1, 4, 16 and 64 keep-alive clients sending its real request
back to back (coldstart.py's: Bell through POST /validate as OpenQASM 2, Bell's
`job.validated`, an ApiServerSource add of a job not in reconcile's store). Each level
runs 1 s untimed, then `--seconds` counted, and stops by time and by a request count;
only answers that count (200 and `valid: true`; 200 and `job.completed`; 202) count.
The client is a separate process (asyncio, one thread) so its GIL does not throttle it.

Then the pods Knative's autoscaler (KPA) asks for at 10, 100 and 1,000 jobs a minute:
desired pods = ceil(observed concurrency / (target x utilization)), where observed
concurrency = arrival rate x mean latency (Little's law), the arrival rate is the jobs'
rate times the events each job sends the function, and target, utilization and
max-scale come from knative/services.yaml (assumed when it is missing). docs/scaling.md
explains the method and the results.

Run from the repository root (exits 1 when a figure could not be measured):

    .venv/bin/python benchmarks/load.py              # 5 s counted per level (~2 min)
    .venv/bin/python benchmarks/load.py --quick      # 1 s per level (~30 s)
"""

# Only the standard library at the top: the load client is a spawned process that
# imports this module, and it must not pay for (or compete with) Qiskit.
from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from coldstart import FUNCTIONS, REQUEST_TIMEOUT, Call, calls, machine_line, served
from serving import HOST, ROOT

LEVELS = (1, 4, 16, 64)
JOBS_PER_MINUTE = (10, 100, 1000)
# Events one Bell job sends each function on a cluster, as `qop run` routes it: validate
# gets the add; execute the job.validated; reconcile the add, job.validated and
# job.completed. Each of the three status writes (Validating, Scheduled, Completed)
# comes back from the ApiServerSource as an update, to reconcile and to validate
# (which ignores an update of a generation already seen).
EVENTS_PER_JOB = {"validate": 4, "execute": 1, "reconcile": 6}
# Knative's defaults, and the Services' settings should knative/services.yaml be missing.
UTILIZATION = 0.7  # container-concurrency-target-percentage
ASSUMED_TARGET = {"validate": 50.0, "execute": 1.0, "reconcile": 20.0}
POD_ENV = ("WORKERS", "MAX_WORKERS", "OMP_NUM_THREADS", "THREADS")
LONGER_JOBS = (1.0, 10.0, 60.0)  # execute's latency if a job ran this many seconds


# --- the load client: runs in its own process -------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What the load client saw in its counted window."""

    ok: int
    errors: dict[str, int]
    seconds: float
    latencies: list[float]  # of the answers that counted, in seconds


def load(call: Call, port: int, connections: int, warmup: float, seconds: float) -> LoadResult:
    return asyncio.run(_load(call, port, connections, warmup, seconds))


async def _load(
    call: Call, port: int, connections: int, warmup: float, seconds: float
) -> LoadResult:
    request = call.wire(port)
    start = time.monotonic()
    window = (start + warmup, start + warmup + seconds)
    cap = int((warmup + seconds) * 20_000)  # a bound besides time, far above any real rate
    tally: Counter[str] = Counter()
    latencies: list[float] = []
    sent = 0

    async def client() -> None:
        nonlocal sent
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.monotonic() < window[1] and sent < cap:
            sent += 1
            outcome, close = "connection refused or reset", True
            began = time.perf_counter()
            try:
                if streams is None:
                    streams = await asyncio.open_connection(HOST, port)
                streams[1].write(request)
                status, headers, body, close = await asyncio.wait_for(
                    _answer(streams[0]), REQUEST_TIMEOUT
                )
                outcome = "ok" if call.counts(status, headers, body) else f"HTTP {status}"
            except TimeoutError:
                outcome = "timeout"
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                pass
            took = time.perf_counter() - began
            if close and streams is not None:
                streams[1].close()
                streams = None
            if window[0] <= time.monotonic() <= window[1]:
                tally[outcome] += 1
                if outcome == "ok":
                    latencies.append(took)
            if outcome != "ok":
                await asyncio.sleep(0.05)  # do not spin on a refusing server

        if streams is not None:
            streams[1].close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return LoadResult(tally.pop("ok", 0), dict(tally), seconds, latencies)


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes, bool]:
    """(status, lower-cased headers, body, whether the connection must be closed)."""
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    }
    if "content-length" not in headers:
        raise ValueError("an answer without Content-Length")
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, body, headers.get("connection", "").lower() == "close"


# --- the measurements ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Level:
    function: str
    connections: int
    result: LoadResult | None = None
    error: str = ""

    @property
    def rps(self) -> float:
        assert self.result is not None
        return self.result.ok / self.result.seconds

    def ms(self, statistic: str) -> float:
        assert self.result is not None
        seconds = self.result.latencies
        if statistic == "mean":
            return statistics.fmean(seconds) * 1e3
        if statistic == "p50":
            return statistics.median(seconds) * 1e3
        return statistics.quantiles(seconds, n=100, method="inclusive")[-1] * 1e3


@dataclass(frozen=True, slots=True)
class Scaling:
    """How Knative scales one function: what its Service says, or what is assumed."""

    target: float
    utilization: float
    metric: str  # concurrency or rps
    min_scale: int
    max_scale: int | None
    hard_limit: int = 0  # containerConcurrency; 0: none
    env: dict[str, str] = field(default_factory=dict)
    source: str = "assumed"

    def desired(self, observed: float) -> int:
        """The KPA's pods for an observed concurrency (a rate, for metric rps), unbounded."""
        return math.ceil(observed / (self.target * self.utilization)) if observed > 0 else 0

    def bounded(self, pods: int) -> int:
        pods = max(self.min_scale, pods)
        return pods if self.max_scale is None else min(pods, self.max_scale)


def scaling() -> dict[str, Scaling]:
    """Each function's autoscaling, from knative/services.yaml where it says."""
    import yaml

    services: dict[str, dict[str, Any]] = {}
    path = ROOT / "knative" / "services.yaml"
    if path.exists():
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "Service":
                services[document["metadata"]["name"]] = document
    found = {}
    for function in FUNCTIONS:
        service = services.get(f"qiskit-{function}")
        if service is None:
            hard = 1 if function == "execute" else 0
            found[function] = Scaling(
                ASSUMED_TARGET[function], UTILIZATION, "concurrency", 0, None, hard
            )
            continue
        template = service["spec"]["template"]
        notes = template.get("metadata", {}).get("annotations", {})
        cap = int(template["spec"].get("containerConcurrency") or 0)
        target = float(notes.get("autoscaling.knative.dev/target", cap or 100))
        if cap:
            target = min(target, cap)  # Knative never aims above the hard limit
        percent = notes.get("autoscaling.knative.dev/target-utilization-percentage")
        env = {
            item["name"]: str(item["value"])
            for item in template["spec"]["containers"][0].get("env", [])
            if item["name"] in POD_ENV
        }
        if cap and int(env.get("MAX_WORKERS", cap)) > cap:
            # queue-proxy lets at most containerConcurrency requests into the pod;
            # the threads beyond it are for probes and scrapes, not for load.
            env["MAX_WORKERS"] = str(cap)
        max_scale = notes.get("autoscaling.knative.dev/max-scale")
        found[function] = Scaling(
            target=target,
            utilization=float(percent) / 100 if percent else UTILIZATION,
            metric=notes.get("autoscaling.knative.dev/metric", "concurrency"),
            min_scale=int(notes.get("autoscaling.knative.dev/min-scale", 0)),
            max_scale=int(max_scale) if max_scale and int(max_scale) > 0 else None,
            hard_limit=cap,
            env=env,
            source="knative/services.yaml",
        )
    return found


def measure(
    clients: ProcessPoolExecutor, call: Call, pod: Scaling, warmup: float, seconds: float
) -> list[Level]:
    levels: list[Level] = []
    env = {"WORKERS": "1", **pod.env}
    try:
        with (
            tempfile.TemporaryDirectory() as results,
            served(
                call.function, QOP_RESULTS_DIR=results, QOP_STATUS_WRITER="memory", **env
            ) as port,
        ):
            for connections in LEVELS:
                future = clients.submit(load, call, port, connections, warmup, seconds)
                try:
                    seen = future.result(timeout=warmup + seconds + REQUEST_TIMEOUT + 30)
                    level = Level(call.function, connections, seen)
                    if len(seen.latencies) < 2:
                        level = Level(call.function, connections, error=f"errors {seen.errors}")
                except Exception as error:
                    level = Level(
                        call.function, connections, error=f"{type(error).__name__}: {error}"
                    )
                levels.append(level)
                print(f"  measured {call.function} x{connections}", file=sys.stderr, flush=True)
    except Exception as error:  # the server did not start, or did not stop
        done = {level.connections for level in levels}
        message = f"{type(error).__name__}: {error}"
        levels += [Level(call.function, c, error=message) for c in LEVELS if c not in done]
    return levels


# --- the report ----------------------------------------------------------------------------


def load_table(levels: list[Level], pods: dict[str, Scaling]) -> None:
    print(
        f"{'function':<10}  {'clients':>7}  {'req/s':>7}  {'p50 ms':>7}  {'p99 ms':>7}  "
        f"{'mean ms':>7}  {'answers':>7}  {'errors':>6}  pod"
    )
    for level in levels:
        pod = " ".join(f"{k}={v}" for k, v in sorted(pods[level.function].env.items()))
        if level.error or level.result is None:
            print(f"{level.function:<10}  {level.connections:>7}  FAILED: {level.error}")
            continue
        r = level.result
        print(
            f"{level.function:<10}  {level.connections:>7}  {level.rps:>7.0f}  "
            f"{level.ms('p50'):>7.2f}  {level.ms('p99'):>7.2f}  {level.ms('mean'):>7.2f}  "
            f"{r.ok:>7}  {sum(r.errors.values()):>6}  {pod or 'WORKERS=1'}"
        )
        for what, count in sorted(r.errors.items()):
            print(f"{'':<10}  error: {what} x{count}")


@dataclass(frozen=True, slots=True)
class Demand:
    """One function's row in the pods table: its pod, its events and its latency."""

    name: str
    pod: Scaling
    events: int  # per job
    latency: float  # W, the mean seconds per request at low load
    throughput: Callable[[float], float]  # one pod's requests a second at a concurrency

    def most(self) -> float:
        """The most one pod serves: at its hard limit, else as loaded as it was measured."""
        return self.throughput(self.pod.hard_limit or max(LEVELS))

    def cell(self, jobs_per_minute: float) -> str:
        rate = jobs_per_minute / 60 * self.events
        observed = rate if self.pod.metric == "rps" else rate * self.latency
        desired = self.pod.desired(observed)
        pods = self.pod.bounded(desired)
        text = f"{pods}" if pods >= desired else f"{pods} of {desired}"
        if rate > pods * self.most():
            text += "!"
        shown = f"{observed:.0f}" if observed >= 100 else f"{observed:.2g}"
        return f"{text} ({shown})"

    def one_pod(self) -> float:
        """Jobs a minute at which the KPA asks for a second pod."""
        aim = self.pod.target * self.pod.utilization
        rate = aim if self.pod.metric == "rps" else self.throughput(aim)
        return rate * 60 / self.events


def measured(levels: list[Level], hard_limit: int) -> Callable[[float], float]:
    """One pod's throughput at a concurrency, interpolated between the measured levels
    (by Little's law a closed loop of c clients keeps c requests in flight)."""
    points = sorted((level.connections, level.rps) for level in levels)

    def at(concurrency: float) -> float:
        c = min(concurrency, hard_limit) if hard_limit else concurrency
        (c0, x0), later = points[0], points[1:]
        if c <= c0:
            return c * x0 / c0  # below one client: each request alone, in its latency
        for c1, x1 in later:
            if c <= c1:
                share = (math.log(c) - math.log(c0)) / (math.log(c1) - math.log(c0))
                return x0 + share * (x1 - x0)
            c0, x0 = c1, x1
        return x0  # beyond what was measured: as saturated as the last level

    return at


def alone(seconds: float, hard_limit: int) -> Callable[[float], float]:
    """One pod's throughput at a concurrency, for requests that each take `seconds`."""

    def at(concurrency: float) -> float:
        return (min(concurrency, hard_limit) if hard_limit else concurrency) / seconds

    return at


def pods_table(levels: list[Level], pods: dict[str, Scaling]) -> None:
    rows: list[Demand] = []
    for function in FUNCTIONS:
        mine = [lv for lv in levels if lv.function == function and lv.result and not lv.error]
        if not any(level.connections == 1 for level in mine):
            print(f"{function:<16}  FAILED: no latency at 1 client")
            continue
        single = next(level for level in mine if level.connections == 1)
        pod, events = pods[function], EVENTS_PER_JOB[function]
        rows.append(
            Demand(function, pod, events, single.ms("mean") / 1e3, measured(mine, pod.hard_limit))
        )
    execute = pods["execute"]
    for seconds in LONGER_JOBS:
        name, events = f"execute, {seconds:g} s job", EVENTS_PER_JOB["execute"]
        rows.append(Demand(name, execute, events, seconds, alone(seconds, execute.hard_limit)))
    head = "  ".join(f"{f'{rate:,}/min':>18}" for rate in JOBS_PER_MINUTE)
    print(
        f"{'function':<18}  {'target':>6}  {'util':>4}  {'ev/job':>6}  {'W ms':>8}  "
        f"{'one pod to':>12}  {head}  max-scale"
    )
    for row in rows:
        cells = "  ".join(f"{row.cell(rate):>18}" for rate in JOBS_PER_MINUTE)
        print(
            f"{row.name:<18}  {row.pod.target:>6g}  {row.pod.utilization:>4.2f}  "
            f"{row.events:>6}  {row.latency * 1e3:>8.2f}  {f'{row.one_pod():,.0f}/min':>12}  "
            f"{cells}  {row.pod.max_scale if row.pod.max_scale is not None else 'none'}"
        )
    print(
        "cells: pods (observed concurrency = jobs/s x events per job x W). W: the mean latency\n"
        "at 1 client above, or the job's length. one pod to: the jobs a minute at which a\n"
        "second pod starts (one pod's throughput at target x util, interpolated from the load\n"
        "table). 'N of M': max-scale caps the M pods asked for; '!': more arrives than those\n"
        "pods serve, so events wait in the Broker and their queue grows"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="counted load per level")
    parser.add_argument("--quick", action="store_true", help="1 s per level, 0.3 s warm-up")
    ns = parser.parse_args(argv)
    seconds, warmup = (1.0, 0.3) if ns.quick else (ns.seconds, 1.0)
    if seconds <= 0:
        parser.error("--seconds must be positive")
    # A SIGTERM must still run the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = os.getloadavg()[0]
    pods = scaling()
    requests = calls()
    levels: list[Level] = []
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as clients:
        for function in FUNCTIONS:
            levels += measure(clients, requests[function], pods[function], warmup, seconds)
    print(machine_line(load_before))
    print(
        f"keep-alive clients in one asyncio process; {warmup:g} s warm-up, then {seconds:g} s "
        "counted per level; each function as one pod of its Knative Service"
    )
    for function in FUNCTIONS:
        print(f"{function}: {requests[function].what}")
    load_table(levels, pods)
    print()
    sources = {pod.source for pod in pods.values()}
    print(
        "pods Knative's KPA asks for: ceil(observed concurrency / (target x util)); "
        f"targets from {', '.join(sorted(sources))}"
    )
    pods_table(levels, pods)
    if any(level.error for level in levels):
        sys.exit(1)


if __name__ == "__main__":
    main()
