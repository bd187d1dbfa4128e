"""What the system sustains against a real kube-apiserver (benchmarks/README.md).

Prints, in one run: status patches per second that reconcile's Kubernetes
StatusWriter sustains (read, decide, merge-patch /status with the
resourceVersion, retry on conflict), with 1 and 4 writers, and the median and
p90 time from `kubectl apply` of the Bell job to phase Completed through the
whole stack (functions as `qop serve` processes, the Broker, the event source).

    .venv/bin/python benchmarks/cluster.py [--jobs 20] [--patches 300] [--source adapter]
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
from datetime import UTC, datetime
from pathlib import Path

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


def apply_to_completed(stack: Stack, jobs: int) -> list[float]:
    seconds = []
    for i in range(jobs):
        name = f"timed-{i}"
        started = time.perf_counter()
        stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(bell(name)))
        stack.kubectl(
            "wait", "--for=jsonpath={.status.phase}=Completed", f"qjob/{name}", "--timeout=60s"
        )
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--patches", type=int, default=300)
    parser.add_argument("--source", choices=["adapter", "watch"], default="adapter")
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
                apply_to_completed(stack, 2)  # warm-up: first jobs pay imports
                timings = apply_to_completed(stack, args.jobs)
            finally:
                stack.stop()
        finally:
            cluster.stop()
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
    timings.sort()
    print(
        f"{f'apply to Completed, Bell, median of {len(timings)} ({args.source}) s':<52}"
        f"{statistics.median(timings):>12.3f}"
    )
    print(f"{'apply to Completed, Bell, p90 s':<52}{timings[int(0.9 * (len(timings) - 1))]:>12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
