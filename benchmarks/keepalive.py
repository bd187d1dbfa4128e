"""A load client: N keep-alive connections posting one body as fast as answers come.

Runs in a process of its own (validate.py and slow_clients.py submit `load` to a
spawned ProcessPoolExecutor), so that its GIL does not throttle the clients and its
CPU use can be reported. asyncio, one thread, raw HTTP/1.1. Only 200 answers with
`valid: true` count; anything else is tallied as an error. Besides the answers it
reads the CPU time the machine, the client and the server's process tree (the
processes of one session) used in the counted window.
"""

# Only the standard library: a spawned process imports this module.
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass

REQUEST_TIMEOUT = 30.0  # above the sandbox's 15 s wall limit


@dataclass(frozen=True, slots=True)
class Target:
    """Where requests go: `POST {path}` on host:port, plain HTTP."""

    host: str
    port: int
    path: str = "/validate"


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What the load client saw in its timed window (warm-up excluded)."""

    ok: int
    errors: dict[str, int]
    seconds: float
    client_cores: float
    busy_cores: float | None  # the whole machine's, from /proc/stat
    server_cores: float | None  # the server's session, None when it is not on this machine
    worker_cores: list[float]  # each direct child of the session leader (gunicorn workers)
    zygote_cores: list[float]  # each grandchild that lives through the window (sandbox zygotes)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: float
    own_cpu: float
    jiffies: tuple[int, int] | None  # busy and total, machine-wide
    server: dict[int, tuple[int, float]]  # pid: (parent pid, CPU seconds), in its session


def snapshot(session: int | None) -> Snapshot:
    jiffies = None
    with contextlib.suppress(OSError, ValueError), open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
        jiffies = sum(values) - values[3] - values[4], sum(values)  # less idle and iowait
    server = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")) if session else ():
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:
                server[int(pid)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return Snapshot(time.monotonic(), time.process_time(), jiffies, server)


def load_result(
    ok: int, errors: dict[str, int], session: int | None, start: Snapshot, end: Snapshot
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
    zygotes = [
        pid for pid, (parent, _) in end.server.items() if parent in workers and pid in start.server
    ]
    server = sum(cores(list(end.server))) if session else None
    client = (end.own_cpu - start.own_cpu) / seconds
    return LoadResult(ok, errors, seconds, client, busy, server, cores(workers), cores(zygotes))


def load(
    port: int,
    session: int | None,
    body: bytes,
    connections: int,
    warmup: float,
    seconds: float,
    host: str = "127.0.0.1",
    path: str = "/validate",
) -> LoadResult:
    """Keep `connections` keep-alive connections busy; count the timed window only."""
    target = Target(host, port, path)
    return asyncio.run(_load(target, session, body, connections, warmup, seconds))


async def _load(
    target: Target,
    session: int | None,
    body: bytes,
    connections: int,
    warmup: float,
    seconds: float,
) -> LoadResult:
    head = (
        f"POST {target.path} HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
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
                    streams = await asyncio.open_connection(target.host, target.port)
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
