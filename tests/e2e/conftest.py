"""A real control plane and the whole stack on loopback, for the e2e tests.

kube-apiserver, etcd and kube-controller-manager are real (see
qiskit_operator/local/devcluster.py); the functions, the Broker and the event
source are started as in qiskit_operator/local/stack.py. Without Go the tests
skip on a laptop; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from qiskit_operator.local.devcluster import Binaries, ClusterError, DevCluster
from qiskit_operator.local.stack import Stack
from tests.conftest import ROOT

IN_CI = os.environ.get("CI", "").lower() == "true"


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


@pytest.fixture(scope="session")
def stack(cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Knative's real receive adapter by default; QOP_E2E_SOURCE=watch tries `qop watch`.
    source = os.environ.get("QOP_E2E_SOURCE", "adapter")
    running = Stack(cluster, tmp_path_factory.mktemp("stack"), source_kind=source)
    try:
        yield running.start()
    finally:
        running.stop()
