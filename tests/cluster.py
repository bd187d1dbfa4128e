"""A real control plane for the tests that need one (tests/e2e, and the metrics test
whose reconcile writes status with two workers).

Without Go these tests skip on a laptop; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from qiskit_operator.local.devcluster import Binaries, ClusterError, DevCluster
from tests.conftest import ROOT

IN_CI = os.environ.get("CI", "").lower() == "true"


def binaries_or_skip(with_adapter: bool = False) -> Binaries:
    """The control-plane binaries, built once into ~/.cache/qiskit-operator/bin."""
    if shutil.which("go") is None:
        if IN_CI:
            pytest.fail("Go is needed to build the control plane, and CI must run these tests")
        pytest.skip("Go is not installed: this test needs a real kube-apiserver")
    try:
        return Binaries.build(with_adapter=with_adapter)
    except ClusterError as error:
        if IN_CI:
            pytest.fail(str(error))
        pytest.skip(str(error))


@contextmanager
def running_cluster(workdir: Path, binaries: Binaries) -> Iterator[DevCluster]:
    """etcd, kube-apiserver and kube-controller-manager on loopback, with the QiskitJob
    and QiskitBackend CRDs established and the functions' RBAC applied; stopped on
    leaving."""
    cluster = DevCluster(workdir, binaries)
    try:
        cluster.start()
        cluster.kubectl("apply", "-f", str(ROOT / "crds"))
        cluster.kubectl("apply", "-f", str(ROOT / "knative" / "rbac.yaml"))
        for crd in ("qiskitjobs", "qiskitbackends", "qiskitbudgets"):
            cluster.kubectl(
                "wait", "--for=condition=Established", f"crd/{crd}.quantum.io", "--timeout=60s"
            )
        yield cluster
    finally:
        cluster.stop()
