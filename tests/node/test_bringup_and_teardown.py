"""A node comes up Ready with a pod running and Services resolving, and its teardown
leaves the machine as it was. Runs its own node, not the session's."""

from __future__ import annotations

import time
from collections.abc import Callable

from qiskit_operator.local.node.configs import NODE_NAME
from qiskit_operator.local.node.node import Node, NodeBinaries
from tests.node.dns import resolve
from tests.node.machine import MachineState


def _until(condition: Callable[[], bool], deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


def test_a_node_runs_pods_resolves_services_and_its_teardown_leaves_nothing_behind(
    node_binaries: NodeBinaries,
) -> None:
    before = MachineState.read()
    node = Node(node_binaries)
    try:
        node.start()
        ready = node.kubectl(
            "get",
            "node",
            NODE_NAME,
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
        ).stdout
        dns_pod = node.kubectl(
            "-n",
            "kube-system",
            "get",
            "pods",
            "-l",
            "k8s-app=kube-dns",
            "-o",
            "jsonpath={.items[0].status.phase}",
        ).stdout
        addresses: list[str] = []

        def resolved() -> bool:
            addresses[:] = resolve(node.network, "kubernetes.default.svc.cluster.local")
            return bool(addresses)

        _until(resolved, 60)
        assert (ready, dns_pod, addresses) == ("True", "Running", ["10.96.0.1"])
    finally:
        problems = node.stop()
        node.remove()
    assert problems == []
    assert MachineState.read().left_behind(before) == {}
