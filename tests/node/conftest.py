"""The node tier: a real kubelet, containerd, kube-proxy, kube-scheduler and CoreDNS
in a network namespace, and the functions as pods (qiskit_operator/local/node/).

It needs root, Go and Debian's containerd, runc, CNI plugins and mmdebstrap, and
takes minutes, so it runs only when asked: `make node-test` (QOP_NODE_TESTS=1).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from qiskit_operator.local.devcluster import ClusterError
from qiskit_operator.local.node.functions import deploy_functions
from qiskit_operator.local.node.node import Node, NodeBinaries, missing_tools
from tests.node.machine import MachineState


@pytest.fixture(scope="session")
def node_binaries() -> NodeBinaries:
    if os.environ.get("QOP_NODE_TESTS") != "1":
        pytest.skip("the node tier runs with `make node-test` (QOP_NODE_TESTS=1)")
    if os.geteuid() != 0:
        pytest.fail("the node tier needs root: kubelet, containerd and network namespaces")
    missing = missing_tools()
    if missing or shutil.which("go") is None:
        pytest.fail(f"the node tier needs: {', '.join(missing or ['go'])}")
    try:
        return NodeBinaries.build()
    except ClusterError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def node(node_binaries: NodeBinaries) -> Iterator[Node]:
    """One node with the functions as pods, for every test that only uses it; its
    teardown fails the run if it leaves anything behind."""
    before = MachineState.read()
    running = Node(node_binaries)
    try:
        running.start()
        deploy_functions(running)
        yield running
    finally:
        problems = running.stop()
        running.remove()
    left = MachineState.read().left_behind(before)
    assert not problems and not left, f"the node left behind: {problems} {left}"
