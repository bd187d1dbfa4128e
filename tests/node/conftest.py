"""The node tier: a real kubelet, containerd, kube-proxy, kube-scheduler and CoreDNS
in a network namespace, and the functions as pods (qiskit_operator/local/node/).

It needs root, Go and Debian's containerd, runc, CNI plugins and mmdebstrap, and
takes minutes, so it runs only when asked: `make node-test` (QOP_NODE_TESTS=1).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qiskit_operator.local.devcluster import ClusterError
from qiskit_operator.local.node.functions import deploy_functions
from qiskit_operator.local.node.node import Node, NodeBinaries
from tests.node.machine import MachineState
from tests.node.tier import require_tier


@pytest.fixture(scope="session")
def node_binaries() -> NodeBinaries:
    require_tier("QOP_NODE_TESTS", "node", "node-test")
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
