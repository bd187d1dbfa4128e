"""A real control plane and the whole stack on loopback, for the e2e tests.

kube-apiserver, etcd and kube-controller-manager are real (see
qiskit_operator/local/devcluster.py); the functions, the Broker and the event
source are started as in qiskit_operator/local/stack.py. Without Go the tests
skip on a laptop; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from qiskit_operator.local.devcluster import Binaries, DevCluster
from qiskit_operator.local.stack import Stack
from tests.cluster import binaries_or_skip, running_cluster
from tests.objectstore import ObjectServer, free_port, running_object_server, versitygw_or_skip

# The port of the S3 server the object-storage tests start (`object_server`), known
# before the stack starts: execute allows only the endpoints QOP_S3_ENDPOINTS lists.
S3_ENDPOINT = f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def binaries() -> Binaries:
    return binaries_or_skip(with_adapter=True)


@pytest.fixture(scope="session")
def cluster(binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster"), binaries) as running:
        yield running


@pytest.fixture(scope="session")
def quiet_cluster(
    binaries: Binaries, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevCluster]:
    """A control plane no stack ever watches, for tests that order each step themselves:
    `cluster` has the whole stack answering its jobs once any test has started `stack`."""
    with running_cluster(tmp_path_factory.mktemp("quiet-cluster"), binaries) as running:
        yield running


@pytest.fixture(scope="session")
def stack(cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Knative's real receive adapter by default; QOP_E2E_SOURCE=watch tries `qop watch`.
    source = os.environ.get("QOP_E2E_SOURCE", "adapter")
    # Resyncs only when a test pings (test_resync.py): asks for jobs 2 s old, and
    # fails as stalled those nothing moved for 10 min (no other test's job).
    running = Stack(
        cluster,
        tmp_path_factory.mktemp("stack"),
        source_kind=source,
        ping_seconds=None,
        function_env={
            "QOP_RESYNC_AFTER_SECONDS": "2",
            "QOP_STALLED_AFTER_SECONDS": "600",
            "QOP_S3_ENDPOINTS": S3_ENDPOINT,
        },
    )
    try:
        yield running.start()
    finally:
        running.stop()


@pytest.fixture(scope="session")
def object_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectServer]:
    """versitygw on 127.0.0.1 at S3_ENDPOINT's port, its buckets in a temporary folder."""
    binary = versitygw_or_skip()
    port = int(S3_ENDPOINT.rsplit(":", 1)[1])
    with running_object_server(binary, tmp_path_factory.mktemp("s3"), port) as running:
        yield running
