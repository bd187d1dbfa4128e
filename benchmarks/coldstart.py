"""How long each function takes from `qop serve` to its first answer: Knative's cold start.

For each function, `--runs` times (default 5): start `qop serve NAME` (WORKERS=1) on
loopback, ask GET /ready on a fresh connection every 5 ms, and the moment it answers
200 send the function's first real request (validate: POST /validate of Bell as
OpenQASM 2; execute: the `job.validated` CloudEvent of Bell; reconcile: the
ApiServerSource add event of a job not in its status store), then the same again.
Prints the medians side by side with the targets (first answer at most 0.5 s for
reconcile, 1.5 s for validate and execute; the original's validation service
documents about 5 s), then where the time goes: the interpreter, the imports by
package (`python -X importtime`), loading the function, and the rest (gunicorn,
its worker, and for validate the sandbox warming up).

Run from the repository root (exits 1 when a figure could not be measured, not
when a target is missed):

    .venv/bin/python benchmarks/coldstart.py             # 5 starts per function
    .venv/bin/python benchmarks/coldstart.py --quick     # 2 starts per function

benchmarks/load.py imports the servers and requests from here; benchmarks/serving.py
starts and stops them.
"""

# Only the standard library at the top: load.py's client is a spawned process that
# imports this module, and it must not pay for (or compete with) Qiskit.
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import serving
from serving import HOST, ROOT

FUNCTIONS = ("reconcile", "validate", "execute")
TARGET_SECONDS = {"reconcile": 0.5, "validate": 1.5, "execute": 1.5}
BELL_QASM2 = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\n'
    "h q[0];\ncx q[0], q[1];\nmeasure q[0] -> c[0];\nmeasure q[1] -> c[1];\n"
)
POLL = 0.005
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0


# --- the requests: one real one per function ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """A function's real request, and what its answer must be to count."""

    function: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    what: str

    def counts(self, status: int, headers: dict[str, str], body: bytes) -> bool:
        if status != self.status:
            return False
        if self.function == "validate":
            return json.loads(body).get("valid") is True
        if self.function == "execute":
            return headers.get("ce-type") == "io.qiskit.operator.job.completed"
        return True

    def wire(self, port: int) -> bytes:
        """The request as HTTP/1.1 bytes on a keep-alive connection."""
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {HOST}:{port}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def calls() -> dict[str, Call]:
    """The request each function is measured with (imports the library: parent only)."""

    from qiskit import QuantumCircuit

    from qiskit_operator.circuits.work import validated_work
    from qiskit_operator.events import payloads, types
    from qiskit_operator.events.apiserver import resource_event
    from qiskit_operator.events.envelope import Envelope
    from qiskit_operator.events.http import to_binary
    from qiskit_operator.local.jobfile import load_job_manifest
    from qiskit_operator.local.pipeline import admit

    validate_body = {"code": BELL_QASM2, "backend_name": "aer_simulator", "optimization_level": 1}
    bell = QuantumCircuit(2, 2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure([0, 1], [0, 1])
    work = validated_work(bell, payloads.ExecutionRequest(shots=1024, optimization_level=1, seed=1))
    validated = Envelope(type=types.JOB_VALIDATED, source="/bench", data=payloads.encode(work))
    manifest = admit(load_job_manifest(ROOT / "examples" / "bell.yaml"))
    manifest["metadata"]["name"] = "bench-unknown"
    added = resource_event(manifest, types.APISERVER_ADD)
    execute_headers, execute = to_binary(validated)
    reconcile_headers, reconcile = to_binary(added)
    return {
        "validate": Call(
            function="validate",
            path="/validate",
            headers={"Content-Type": "application/json"},
            body=json.dumps(validate_body).encode(),
            status=200,
            what="POST /validate, Bell as OpenQASM 2: 200, valid",
        ),
        "execute": Call(
            function="execute",
            path="/",
            headers=execute_headers,
            body=execute,
            status=200,
            what="POST / job.validated, Bell 1024 shots: 200, job.completed",
        ),
        "reconcile": Call(
            function="reconcile",
            path="/",
            headers=reconcile_headers,
            body=reconcile,
            status=202,
            what="POST / ApiServerSource add of a job not in its status store: 202",
        ),
    }


# --- the server under test ---------------------------------------------------------------


def ask(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = REQUEST_TIMEOUT,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: (status, lower-cased headers, body)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {**(headers or {}), "Connection": "close"}
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def wait_ready(server: serving.Server, port: int) -> None:
    """Until GET /ready answers 200 on a fresh connection, asked every 50 ms."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"exited with {server.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready in {START_TIMEOUT:g} s")
        with contextlib.suppress(OSError):
            if ask(port, "GET", "/ready", timeout=5)[0] == 200:
                return
        time.sleep(0.05)


@contextlib.contextmanager
def served(function: str, **env: str) -> Iterator[int]:
    """`qop serve FUNCTION` (WORKERS=1 unless `env` says), ready (GET /ready 200); yields
    its port, stops it after."""
    with serving.served(function, {**os.environ, "WORKERS": "1", **env}, wait_ready) as (_, port):
        yield port


# --- one cold start ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColdStart:
    listening: float  # seconds from the start to the first HTTP answer of any status
    ready: float  # to the first GET /ready 200
    answered: float  # to the first real request's answer
    first_ms: float  # that request alone
    again_ms: float  # the same request once more, warm


def cold_start(call: Call) -> ColdStart:
    port = serving.free_port()
    with tempfile.TemporaryFile("w+") as log:
        started = time.monotonic()
        server = serving.start(call.function, port, log, {**os.environ, "WORKERS": "1"})
        try:
            listening = None
            while True:
                if server.poll() is not None:
                    ended = serving.last_line(log)
                    raise RuntimeError(f"exited with {server.returncode}: {ended}")
                if time.monotonic() - started > START_TIMEOUT:
                    ended = serving.last_line(log)
                    raise RuntimeError(f"not ready in {START_TIMEOUT:g} s: {ended}")
                try:
                    status = ask(port, "GET", "/ready", timeout=5)[0]
                except OSError:
                    status = 0
                now = time.monotonic()
                if status and listening is None:
                    listening = now - started
                if status == 200:
                    ready = now - started
                    break
                time.sleep(POLL)
            assert listening is not None
            answers = []  # (sent, answered) of the first request and of the same again
            for _ in range(2):
                sent = time.monotonic()
                status, headers, body = ask(port, "POST", call.path, call.body, call.headers)
                answers.append((sent, time.monotonic()))
                if not call.counts(status, headers, body):
                    raise RuntimeError(f"answered {status}: {body[:200]!r}")
            (first_sent, answered), (again_sent, again_done) = answers
            return ColdStart(
                listening,
                ready,
                answered - started,
                (answered - first_sent) * 1e3,
                (again_done - again_sent) * 1e3,
            )
        finally:
            serving.stop(server)


# --- where the time goes -----------------------------------------------------------------

STAGES = """
import json, sys, time
marks = [time.perf_counter()]
import qiskit_operator.cli
marks.append(time.perf_counter())
import functions_framework, gunicorn.app.base
marks.append(time.perf_counter())
functions_framework.create_app(target=sys.argv[1], source=sys.argv[2])
marks.append(time.perf_counter())
print(json.dumps([b - a for a, b in zip(marks, marks[1:])]))
"""
IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+\d+\s+\|\s*(\S+)")


@dataclass(frozen=True, slots=True)
class Stages:
    """What `qop serve` does before gunicorn starts, timed in a fresh process."""

    interpreter: float  # `python -c pass`
    cli: float  # import qiskit_operator.cli (Settings and what it imports)
    framework: float  # functions-framework, Flask, gunicorn
    function: float  # create_app: the function's main.py, its imports and its handler


def stages(function: str) -> Stages:
    source = str(ROOT / "functions" / function / "main.py")
    began = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True, cwd=ROOT)
    interpreter = time.monotonic() - began
    done = subprocess.run(
        [sys.executable, "-c", STAGES, function, source],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    cli, framework, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    return Stages(interpreter, cli, framework, loaded)


def import_seconds(function: str) -> dict[str, float]:
    """Import time by top-level package while loading the function (-X importtime)."""
    source = str(ROOT / "functions" / function / "main.py")
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", STAGES, function, source],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    packages: dict[str, float] = defaultdict(float)
    for line in traced.stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match:  # self times add up to the whole, each nested import counted once
            packages[match.group(2).split(".")[0]] += int(match.group(1)) / 1e6
    return dict(packages)


@dataclass(frozen=True, slots=True)
class Row:
    function: str
    starts: list[ColdStart] = field(default_factory=list)
    stages: list[Stages] = field(default_factory=list)
    packages: dict[str, float] = field(default_factory=dict)
    error: str = ""

    def median(self, name: str) -> float:
        return float(statistics.median(getattr(s, name) for s in self.starts))

    def stage(self, name: str) -> float:
        return float(statistics.median(getattr(s, name) for s in self.stages))


def measure(call: Call, runs: int) -> Row:
    """`runs` cold starts, each followed by a timing of its stages, close in time so
    that both see the same machine."""
    starts: list[ColdStart] = []
    samples: list[Stages] = []
    try:
        for run in range(runs):
            starts.append(cold_start(call))
            samples.append(stages(call.function))
            print(
                f"  {call.function} start {run + 1}: {starts[-1].answered:.3f} s", file=sys.stderr
            )
        packages = import_seconds(call.function)
    except Exception as error:  # one broken function must not hide the others
        message = f"start {len(starts) + 1}: {type(error).__name__}: {error}"
        return Row(call.function, starts, samples, error=message)
    return Row(call.function, starts, samples, packages)


# --- the report ----------------------------------------------------------------------------


def machine_line(load_before: float) -> str:
    from importlib.metadata import version

    return (
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, qiskit {version('qiskit')}, "
        f"qiskit-aer {version('qiskit-aer')}; 1-min load average "
        f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def report(rows: list[Row], runs: int) -> None:
    print(
        f"cold start of `qop serve NAME` (WORKERS=1), median of {runs} starts, seconds from "
        "the process start"
    )
    print(
        f"{'function':<10}  {'listening':>9}  {'/ready 200':>10}  {'1st answer':>10}  "
        f"{'worst':>6}  {'1st ms':>7}  {'again ms':>8}  target (1st answer)"
    )
    for row in rows:
        if row.error:
            print(f"{row.function:<10}  FAILED: {row.error}")
            continue
        goal = TARGET_SECONDS[row.function]
        answered = row.median("answered")
        worst = max(s.answered for s in row.starts)
        print(
            f"{row.function:<10}  {row.median('listening'):>9.3f}  {row.median('ready'):>10.3f}"
            f"  {answered:>10.3f}  {worst:>6.3f}  {row.median('first_ms'):>7.1f}  "
            f"{row.median('again_ms'):>8.1f}  <= {goal:g} s: {verdict(answered <= goal)}"
        )
    print(
        "listening: the first answer to GET /ready, of any status; worst: the slowest 1st\n"
        "answer; 1st ms: the first real request alone; again ms: the same request once more"
    )
    print()
    print("where the time goes to /ready 200, medians in seconds")
    print(
        f"{'function':<10}  {'python':>6}  {'qop cli':>7}  {'framework':>9}  "
        f"{'function':>8}  {'rest':>6}  heaviest imports (-X importtime)"
    )
    for row in rows:
        if row.error:
            print(f"{row.function:<10}  FAILED: {row.error}")
            continue
        names = ("interpreter", "cli", "framework", "function")
        before = [row.stage(name) for name in names]
        rest = row.median("ready") - sum(before)
        heavy = sorted(row.packages.items(), key=lambda item: -item[1])[:4]
        print(
            f"{row.function:<10}  {before[0]:>6.3f}  {before[1]:>7.3f}  {before[2]:>9.3f}  "
            f"{before[3]:>8.3f}  {rest:>6.3f}  "
            + ", ".join(f"{name} {seconds:.3f}" for name, seconds in heavy)
        )
    print(
        "python: `python -c pass`; qop cli: import qiskit_operator.cli; framework:\n"
        "functions-framework, Flask and gunicorn; function: create_app, i.e. the function's\n"
        "main.py with its imports and handler; rest: /ready 200 less those: gunicorn's start\n"
        "and worker, the polling and, for validate, the sandbox zygote (a second Python that\n"
        "imports Qiskit) forking its first child. Imports are by package, all stages together."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="starts per function")
    parser.add_argument("--quick", action="store_true", help="2 starts per function")
    ns = parser.parse_args(argv)
    runs = 2 if ns.quick else ns.runs
    if runs < 1:
        parser.error("--runs must be at least 1")
    # A SIGTERM must still run the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = os.getloadavg()[0]
    requests = calls()
    rows = [measure(requests[function], runs) for function in FUNCTIONS]
    print(machine_line(load_before))
    for function in FUNCTIONS:
        print(f"{function}: {requests[function].what}")
    report(rows, runs)
    if any(row.error for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
