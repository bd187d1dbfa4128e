"""Scale to zero and back, and autoscaling under load, on real Knative (issue 14).

Brings up the Knative tier (qiskit_operator/local/knative/: a real node, Knative
Serving and Eventing from their Go modules, Traefik, knative/ with an image overlay
a 30 s autoscaling window and a 6 s scale-to-zero grace period) and prints, in one run:

- for each function, from zero pods: seconds to the first answer of GET /health
  through the ingress (Knative starts a pod on the request);
- a Bell job applied with every function at zero, and with every function warm:
  seconds from `kubectl apply` to phase Completed (median of --jobs each), and for
  each job from zero, step by step: when each function's pod was created and Ready
  and when the job entered each phase;
- --burst Bell jobs applied at once through the ApiServerSource and Broker: how many
  Completed, throughput, p50 and p99 apply-to-Completed, and each function's pod
  count over time;
- POST /validate at --rate per second for --seconds through Traefik: answered,
  p50 and p99 latency, and validate's pod count over time.

    sudo .venv/bin/python benchmarks/knative.py [--jobs 3] [--burst 30] [--rate 20]
        [--seconds 30]

Needs root, Go and what `make knative-test` installs. Two cores bound every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qiskit_operator.local.knative.install import DOMAIN, Knative  # noqa: E402
from qiskit_operator.local.knative.release import Release  # noqa: E402
from qiskit_operator.local.node.functions import NAMESPACE  # noqa: E402
from qiskit_operator.local.node.images import FUNCTIONS  # noqa: E402
from qiskit_operator.local.node.network import NODE_ADDRESS  # noqa: E402
from qiskit_operator.local.node.node import Node, NodeBinaries  # noqa: E402

# A 30 s autoscaling window keeps functions up between back-to-back jobs (the warm
# figures) and still lets them go to zero within a minute (the cold ones); 6 s is
# the least scale-to-zero grace period Knative accepts.
WINDOW_SECONDS = 30
GRACE_SECONDS = 6
HOSTS = {
    "validate": f"qiskit-validate.{NAMESPACE}.{DOMAIN}",
    "execute": f"qiskit-execute.{NAMESPACE}.svc.cluster.local",
    "reconcile": f"qiskit-reconcile.{NAMESPACE}.svc.cluster.local",
}
# Runs inside the node's network namespace: requests at a steady rate, one thread
# each, and their latencies (or errors) as JSON.
LOAD = """
import json, sys, threading, time, urllib.request
url, host, body = sys.argv[1], sys.argv[2], sys.argv[3].encode()
rate, seconds = float(sys.argv[4]), float(sys.argv[5])
headers = {"Host": host, "Content-Type": "application/json"}
results, lock = [], threading.Lock()
def one():
    start = time.perf_counter()
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read(); ok = answer.status == 200
    except Exception:
        ok = False
    with lock:
        results.append((time.perf_counter() - start, ok))
threads, begin = [], time.perf_counter()
for i in range(int(rate * seconds)):
    time.sleep(max(0.0, begin + i / rate - time.perf_counter()))
    thread = threading.Thread(target=one); thread.start(); threads.append(thread)
for thread in threads:
    thread.join()
print(json.dumps(results))
"""


def bell(name: str) -> str:
    manifest = yaml.safe_load((ROOT / "examples" / "bell.yaml").read_text())
    manifest["metadata"] = {"name": name}
    return yaml.safe_dump(manifest)


def pods(knative: Knative) -> dict[str, int]:
    """Each function's pods that are not terminating."""
    listed = json.loads(knative.node.kubectl("-n", NAMESPACE, "get", "pods", "-o", "json").stdout)[
        "items"
    ]
    counts = dict.fromkeys(FUNCTIONS, 0)
    for pod in listed:
        service = pod["metadata"].get("labels", {}).get("serving.knative.dev/service", "")
        function = service.removeprefix("qiskit-")
        if function in counts and not pod["metadata"].get("deletionTimestamp"):
            counts[function] += 1
    return counts


def wait_all_zero(knative: Knative, timeout: float = 300) -> float:
    started = time.monotonic()
    while any(pods(knative).values()):
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"functions still up after {timeout:g} s: {pods(knative)}")
        time.sleep(0.5)
    return time.monotonic() - started


def first_answer(knative: Knative, function: str) -> float:
    """Seconds from GET /health through Traefik until the function answered 200."""
    curl = [
        "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "120",
        "-H", f"Host: {HOSTS[function]}", f"http://{NODE_ADDRESS}/health",
    ]  # fmt: skip
    started = time.perf_counter()
    answer = subprocess.run(
        knative.node.cluster.in_netns(curl), capture_output=True, text=True, check=False
    )
    if answer.stdout != "200":
        raise RuntimeError(f"{function} answered {answer.stdout!r}: {answer.stderr}")
    return time.perf_counter() - started


def apply_to_completed(knative: Knative, name: str) -> float:
    started = time.perf_counter()
    knative.node.kubectl("apply", "-f", "-", stdin=bell(name))
    knative.node.kubectl(
        "wait", "--for=jsonpath={.status.phase}=Completed", f"qjob/{name}",
        "--timeout=300s", timeout=310,
    )  # fmt: skip
    return time.perf_counter() - started


class PodSampler:
    """Each function's pod count once a second, on a thread, until stopped."""

    def __init__(self, knative: Knative) -> None:
        self.knative, self.samples = knative, []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - self._start, pods(self.knative)))
            self._stop.wait(1.0)

    def __enter__(self) -> PodSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def shape(self, function: str) -> str:
        """The pod counts as `t:count` wherever the count changed."""
        points, last = [], -1
        for at, counts in self.samples:
            if counts[function] != last:
                points.append(f"{at:.0f}s:{counts[function]}")
                last = counts[function]
        return " ".join(points)


class Timeline:
    """When each function's pod was created and became Ready, and when the job entered
    each phase, in seconds from the start: two `kubectl get --watch` streams, started
    before the job is applied (they list the objects there already, then stream)."""

    def __init__(self, knative: Knative, job: str) -> None:
        self.job, self.marks = job, {}  # type: ignore[var-annotated]
        cluster = knative.node.cluster
        kubectl = [str(cluster.binaries.kubectl), "--kubeconfig", str(cluster.kubeconfig)]
        watch = ["--watch", "--output-watch-events", "-o", "json"]
        self._streams = [
            subprocess.Popen(
                cluster.in_netns([*kubectl, "get", *what, *watch]),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for what in (["pods", "-n", NAMESPACE], ["qjob", "-n", "default"])
        ]
        self._start = time.monotonic()
        for stream in self._streams:
            threading.Thread(target=self._read, args=(stream,), daemon=True).start()
        time.sleep(1.0)  # kubectl connects and lists what is there before the apply

    def mark(self, what: str) -> None:
        self.marks.setdefault(what, time.monotonic() - self._start)

    def _read(self, stream: subprocess.Popen[str]) -> None:
        decoder, buffered = json.JSONDecoder(), ""
        assert stream.stdout is not None
        for line in stream.stdout:
            buffered += line
            try:
                event, _ = decoder.raw_decode(buffered.strip())
            except ValueError:
                continue  # the object is not whole yet
            buffered = ""
            self._saw(event.get("object") or {})

    def _saw(self, item: dict[str, Any]) -> None:
        meta, status = item.get("metadata") or {}, item.get("status") or {}
        if item.get("kind") == "QiskitJob":
            if meta.get("name") == self.job:
                phase = status.get("phase")
                self.mark(f"job {phase}" if phase else "job created")
            return
        function = (meta.get("labels") or {}).get("serving.knative.dev/service", "")
        if not function or meta.get("deletionTimestamp"):
            return
        function = function.removeprefix("qiskit-")
        self.mark(f"{function} pod created")
        conditions = status.get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            self.mark(f"{function} pod Ready")

    def close(self) -> None:
        for stream in self._streams:
            stream.kill()
            stream.wait()

    def steps(self) -> str:
        return ", ".join(f"{what} {at:.2f}" for what, at in sorted(self.marks.items(), key=_at))


def _at(item: tuple[str, float]) -> float:
    return item[1]


def burst(knative: Knative, jobs: int) -> tuple[list[float], int, float, PodSampler]:
    names = [f"burst-{i}" for i in range(jobs)]
    manifests = "---\n".join(bell(name) for name in names)
    with PodSampler(knative) as sampler:
        started = time.perf_counter()
        knative.node.kubectl("apply", "-f", "-", stdin=manifests)
        done: dict[str, float] = {}
        while len(done) < jobs and time.perf_counter() - started < 900:
            items = json.loads(knative.node.kubectl("get", "qjob", "-o", "json").stdout)["items"]
            for item in items:
                name, phase = item["metadata"]["name"], item.get("status", {}).get("phase")
                if name in names and name not in done and phase in ("Completed", "Failed"):
                    done[name] = time.perf_counter() - started if phase == "Completed" else -1
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
    completed = [seconds for seconds in done.values() if seconds >= 0]
    return completed, jobs - len(completed), elapsed, sampler


def validate_load(
    knative: Knative, rate: float, seconds: float
) -> tuple[list[float], int, PodSampler]:
    bell_qasm = (ROOT / "tests" / "e2e" / "bell.qasm").read_text()
    body = json.dumps({"code": bell_qasm, "backend_name": "aer_simulator"})
    argv = [
        sys.executable, "-c", LOAD, f"http://{NODE_ADDRESS}/validate", HOSTS["validate"],
        body, str(rate), str(seconds),
    ]  # fmt: skip
    with PodSampler(knative) as sampler:
        ran = subprocess.run(
            knative.node.cluster.in_netns(argv), capture_output=True, text=True, check=True
        )
    results = json.loads(ran.stdout)
    latencies = [latency for latency, ok in results if ok]
    return latencies, len(results) - len(latencies), sampler


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=3, help="Bell jobs timed each way")
    parser.add_argument("--burst", type=int, default=30, help="Bell jobs applied at once")
    parser.add_argument("--rate", type=float, default=20, help="POST /validate per second")
    parser.add_argument("--seconds", type=float, default=30, help="how long the rate runs")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    node = Node(NodeBinaries.build())
    knative = Knative(node, Release.build())
    try:
        started = time.perf_counter()
        node.start()
        knative.install()
        knative.scale_to_zero_after(GRACE_SECONDS)
        knative.deploy_functions(window_seconds=WINDOW_SECONDS)
        ready = time.perf_counter() - started
        apply_to_completed(knative, "warm-up")
        cold_answers = {}
        for function in FUNCTIONS:
            wait_all_zero(knative)
            cold_answers[function] = first_answer(knative, function)
        from_zero, warm, timelines = [], [], []
        for i in range(args.jobs):
            wait_all_zero(knative)
            timelines.append(Timeline(knative, f"from-zero-{i}"))
            from_zero.append(apply_to_completed(knative, f"from-zero-{i}"))
            timelines[-1].close()
            warm.append(apply_to_completed(knative, f"warm-{i}"))
        completed, lost, elapsed, burst_pods = burst(knative, args.burst)
        latencies, failed, validate_pods = validate_load(knative, args.rate, args.seconds)
    finally:
        knative.quiesce()
        problems = node.stop()
        node.remove()
        for problem in problems:
            print(f"the node left behind: {problem}", file=sys.stderr)
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; Knative Serving {knative.release.serving_version}, "
        f"Eventing {knative.release.eventing_version}, Traefik ingress; function images: "
        f"{os.environ.get('QOP_NODE_IMAGES', 'stand-in')}; load {load:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(f"{'node start to functions Ready, s':<58}{ready:>10.1f}")
    for function, seconds in cold_answers.items():
        print(f"{f'{function}: from zero to first GET /health answer, s':<58}{seconds:>10.2f}")
    print(
        f"{f'Bell, all at zero: apply to Completed, median of {args.jobs}, s':<58}"
        f"{statistics.median(from_zero):>10.2f}"
    )
    for timeline in timelines:
        print(f"  step by step, s: {timeline.steps()}")
    print(
        f"{f'Bell, all warm: apply to Completed, median of {args.jobs}, s':<58}"
        f"{statistics.median(warm):>10.2f}"
    )
    print(f"{f'{args.burst} Bell jobs at once: Completed':<58}{len(completed):>10}")
    print(f"{f'{args.burst} Bell jobs at once: not Completed':<58}{lost:>10}")
    print(f"{f'{args.burst} Bell jobs at once: jobs/s':<58}{len(completed) / elapsed:>10.2f}")
    print(
        f"{'  apply to Completed p50 / p99, s':<58}"
        f"{percentile(completed, 0.5):>5.1f} / {percentile(completed, 0.99):.1f}"
    )
    for function in FUNCTIONS:
        print(f"  {function} pods (s:count): {burst_pods.shape(function)}")
    print(
        f"{f'POST /validate at {args.rate:g}/s for {args.seconds:g} s: answered':<58}"
        f"{len(latencies):>10}"
    )
    print(f"{'  failed':<58}{failed:>10}")
    print(
        f"{'  latency p50 / p99, ms':<58}"
        f"{1000 * percentile(latencies, 0.5):>5.0f} / {1000 * percentile(latencies, 0.99):.0f}"
    )
    print(f"  validate pods (s:count): {validate_pods.shape('validate')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
