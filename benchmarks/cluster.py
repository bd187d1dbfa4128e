"""What the system sustains against a real kube-apiserver (benchmarks/README.md).

Prints, in one run: status patches per second that reconcile's Kubernetes
StatusWriter sustains (read, decide, merge-patch /status with the
resourceVersion, retry on conflict), with 1 and 4 writers; the median and p90
time from `kubectl apply` of the Bell job to phase Completed through the whole
stack (functions as `qop serve` processes, the Broker, the event source); and
--burst Bell jobs applied at once (how many ended Completed, the time to the
last). With --node (root), the same two figures side by side on a real node,
the functions as pods (qiskit_operator/local/node/, QOP_NODE_IMAGES chooses
their images), and the node's start time.

    .venv/bin/python benchmarks/cluster.py [--jobs 20] [--burst 200] [--patches 300]
        [--source adapter] [--node]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qiskit_operator.events.payloads import JobRef  # noqa: E402
from qiskit_operator.kube.client import KubeConnection  # noqa: E402
from qiskit_operator.kube.status import KubeStatusWriter  # noqa: E402
from qiskit_operator.local.devcluster import Binaries, DevCluster  # noqa: E402
from qiskit_operator.local.stack import Stack  # noqa: E402
from qiskit_operator.models import JobStatus, Phase  # noqa: E402


def bell(name: str) -> dict[str, object]:
    manifest: dict[str, object] = yaml.safe_load((ROOT / "examples" / "bell.yaml").read_text())
    manifest["metadata"] = {"name": name}  # type: ignore[index]
    return manifest


def patches_per_second(cluster: DevCluster, writers: int, patches: int) -> tuple[float, int]:
    """Each writer bumps retryCount on its own share of jobs, as reconcile would."""
    names = [f"patch-{writers}-{i}" for i in range(writers * 2)]
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([bell(n) for n in names]))
    uids = json.loads(cluster.kubectl("get", "qjob", "-o", "json").stdout)["items"]
    uid_of = {item["metadata"]["name"]: item["metadata"]["uid"] for item in uids}
    connection = KubeConnection(str(cluster.kubeconfig))
    writer = KubeStatusWriter(connection)

    def bump(status: JobStatus | None) -> JobStatus:
        current = status or JobStatus(phase=Phase.SCHEDULED, observed_generation=1)
        return current.model_copy(update={"retry_count": (current.retry_count or 0) + 1})

    def work(index: int) -> None:
        for n in range(patches // writers):
            name = names[(index + n * writers) % len(names)]
            writer.update(
                JobRef(namespace="default", name=name, uid=uid_of[name], generation=1), bump
            )

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cluster.kubectl("delete", "qjob", *names, "--wait=false")
    return writer.patches / elapsed, writer.conflicts


class Kubectl(Protocol):
    def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...


def apply_to_completed(kubectl: Kubectl, jobs: int, prefix: str = "timed") -> list[float]:
    seconds = []
    for i in range(jobs):
        name = f"{prefix}-{i}"
        started = time.perf_counter()
        kubectl("apply", "-f", "-", stdin=yaml.safe_dump(bell(name)))
        kubectl(
            "wait", "--for=jsonpath={.status.phase}=Completed", f"qjob/{name}", "--timeout=120s"
        )
        seconds.append(time.perf_counter() - started)
    return seconds


def burst(kubectl: Kubectl, jobs: int, timeout: float = 900) -> tuple[int, int, float]:
    """JOBS Bell jobs in one `kubectl apply`: (Completed, in another final phase, seconds
    from the apply until the last of them reached a final phase)."""
    names = [f"burst-{i}" for i in range(jobs)]
    started = time.perf_counter()
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([bell(n) for n in names]))
    deadline = started + timeout
    phases: dict[str, str] = {}
    while time.perf_counter() < deadline:
        items = json.loads(kubectl("get", "qjob", "-o", "json").stdout)["items"]
        phases = {
            i["metadata"]["name"]: i.get("status", {}).get("phase", "")
            for i in items
            if i["metadata"]["name"].startswith("burst-")
        }
        if len(phases) == jobs and all(p in ("Completed", "Failed") for p in phases.values()):
            break
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    completed = sum(p == "Completed" for p in phases.values())
    failed = sum(p == "Failed" for p in phases.values())
    kubectl("delete", "qjob", *names, "--wait=false", check=False)
    return completed, failed, elapsed


@dataclass
class Figures:
    timings: list[float]
    burst: tuple[int, int, float]


def node_figures(jobs: int, jobs_at_once: int) -> tuple[float, Figures]:
    """The node's start time (control plane, containerd, kubelet, CoreDNS and the
    functions' Deployments ready) and its figures."""
    from qiskit_operator.local.node.functions import deploy_functions
    from qiskit_operator.local.node.node import Node, NodeBinaries

    node = Node(NodeBinaries.build())
    started = time.perf_counter()
    try:
        node.start()
        deploy_functions(node)
        start_s = time.perf_counter() - started
        apply_to_completed(node.kubectl, 2, "warm")  # the pods' first jobs pay imports
        return start_s, Figures(
            apply_to_completed(node.kubectl, jobs), burst(node.kubectl, jobs_at_once)
        )
    finally:
        problems = node.stop()
        node.remove()
        for problem in problems:
            print(f"the node left behind: {problem}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--patches", type=int, default=300)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--source", choices=["adapter", "watch"], default="adapter")
    parser.add_argument("--node", action="store_true", help="also on a real node (root)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="qop-bench-") as tmp:
        cluster = DevCluster(Path(tmp) / "cluster", Binaries.build(with_adapter=True))
        cluster.start()
        try:
            cluster.kubectl("apply", "-f", str(ROOT / "crds"))
            cluster.kubectl("apply", "-f", str(ROOT / "knative" / "rbac.yaml"))
            cluster.kubectl(
                "wait", "--for=condition=Established", "crd/qiskitjobs.quantum.io", "--timeout=60s"
            )
            rates = {w: patches_per_second(cluster, w, args.patches) for w in (1, 4)}
            workdir = Path(tmp) / "stack"
            workdir.mkdir()
            stack = Stack(cluster, workdir, source_kind=args.source).start()
            try:
                apply_to_completed(stack.kubectl, 2, "warm")  # first jobs pay imports
                processes = Figures(
                    apply_to_completed(stack.kubectl, args.jobs), burst(stack.kubectl, args.burst)
                )
            finally:
                stack.stop()
        finally:
            cluster.stop()
    node = node_figures(args.jobs, args.burst) if args.node else None
    kubectl = subprocess.run(
        [str(cluster.binaries.kubectl), "version", "--client", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    version = json.loads(kubectl.stdout or "{}").get("clientVersion", {}).get("gitVersion")
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, Kubernetes {version}; load {load:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(f"{'figure':<52}{'value':>12}")
    for writers, (rate, conflicts) in rates.items():
        print(
            f"{f'status patches/s, {writers} writer(s) ({conflicts} conflicts retried)':<52}"
            f"{rate:>12.1f}"
        )
    columns = [("processes", processes)] + ([("node", node[1])] if node else [])
    print(f"{'':<52}" + "".join(f"{name:>12}" for name, _ in columns))
    rows: list[tuple[str, Callable[[Figures], str]]] = [
        (f"apply to Completed, Bell, median of {args.jobs} s", lambda f: _median(f.timings)),
        ("apply to Completed, Bell, p90 s", lambda f: _p90(f.timings)),
        (f"{args.burst} applied at once: Completed", lambda f: f"{f.burst[0]}"),
        (f"{args.burst} applied at once: Failed", lambda f: f"{f.burst[1]}"),
        (f"{args.burst} applied at once: s to the last", lambda f: f"{f.burst[2]:.1f}"),
    ]
    for label, value in rows:
        print(f"{label:<52}" + "".join(f"{value(f):>12}" for _, f in columns))
    if node:
        print(f"{'node start to functions ready, s':<52}{'':>12}{node[0]:>12.1f}")
    print(f"(event source of the process stack: {args.source})")
    return 0


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}"


def _p90(values: list[float]) -> str:
    return f"{sorted(values)[int(0.9 * (len(values) - 1))]:.3f}"


if __name__ == "__main__":
    sys.exit(main())
