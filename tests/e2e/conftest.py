"""A real control plane and the whole stack on loopback, for the e2e tests.

kube-apiserver, etcd and kube-controller-manager are real (see
qiskit_operator/local/devcluster.py); the three functions run as `qop serve`
processes with their own ServiceAccounts' tokens; a Broker routes by
knative/triggers.yaml; the event source watches the API server. Without Go the
tests skip on a laptop; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from qiskit_operator.local.devcluster import Binaries, ClusterError, DevCluster, free_port
from qiskit_operator.routing.delivery import HttpSubscriber, Subscriber
from qiskit_operator.routing.ingress import BrokerServer
from qiskit_operator.routing.triggers import load_triggers
from tests.conftest import ROOT

IN_CI = os.environ.get("CI", "").lower() == "true"
NAMESPACE = "qiskit-operator"

pytestmark = pytest.mark.e2e


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def binaries() -> Binaries:
    if shutil.which("go") is None:
        if IN_CI:
            pytest.fail("Go is needed to build the control plane, and CI must run the e2e tests")
        pytest.skip("Go is not installed: the e2e tests need a real kube-apiserver")
    try:
        return Binaries.build(with_adapter=True)
    except ClusterError as error:
        if IN_CI:
            pytest.fail(str(error))
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def cluster(binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    running = DevCluster(tmp_path_factory.mktemp("cluster"), binaries)
    try:
        running.start()
        running.kubectl("apply", "-f", str(ROOT / "crds"))
        running.kubectl("apply", "-f", str(ROOT / "knative" / "rbac.yaml"))
        running.kubectl(
            "wait", "--for=condition=Established", "crd/qiskitjobs.quantum.io", "--timeout=60s"
        )
        yield running
    finally:
        running.stop()


@dataclass
class FunctionProcess:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    _log_file: object = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qiskit_operator.cli",
                "serve",
                self.name,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "ready", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} not ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]


@dataclass
class Stack:
    cluster: DevCluster
    functions: dict[str, FunctionProcess]
    broker: BrokerServer
    source: subprocess.Popen[bytes]
    workdir: Path

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(*args, stdin=stdin, check=check)


def _function_env(cluster: DevCluster, name: str, results: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env.update(
        {
            "WORKERS": "1",
            "MAX_WORKERS": "16",
            "QOP_RESULTS_DIR": str(results),
            "LOG_LEVEL": "INFO",
            "QOP_SANDBOX_WARM": "2",
        }
    )
    if name == "reconcile":
        env["QOP_STATUS_WRITER"] = "kubernetes"
    if name != "execute":  # execute has no Kubernetes access at all
        env["KUBECONFIG"] = str(cluster.service_account_kubeconfig(NAMESPACE, f"qiskit-{name}"))
    return env


@pytest.fixture(scope="session")
def stack(cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    results = workdir / "results"
    functions = {
        name: FunctionProcess(
            name, free_port(), _function_env(cluster, name, results), workdir / f"{name}.log"
        )
        for name in ("validate", "execute", "reconcile")
    }
    subscribers: dict[str, Subscriber] = {
        f"qiskit-{name}": HttpSubscriber(f"qiskit-{name}", function.url)
        for name, function in functions.items()
    }
    broker = BrokerServer(load_triggers(ROOT / "knative" / "triggers.yaml"), subscribers)
    source_log = (workdir / "source.log").open("ab")
    source: subprocess.Popen[bytes] | None = None
    try:
        for function in functions.values():
            function.start()
        for function in functions.values():
            function.wait_ready()
        broker.start()
        source = subprocess.Popen(
            [sys.executable, "-m", "qiskit_operator.cli", "watch", "--sink", broker.url],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=source_log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "KUBECONFIG": str(
                    cluster.service_account_kubeconfig(NAMESPACE, "qiskit-job-source")
                ),
            },
            start_new_session=True,
        )
        time.sleep(2)  # the source says nothing about jobs that exist when it starts
        yield Stack(cluster, functions, broker, source, workdir)
    finally:
        if source is not None and source.poll() is None:
            os.killpg(source.pid, signal.SIGTERM)
            source.wait(10)
        source_log.close()
        broker.stop()
        for function in functions.values():
            function.stop()
