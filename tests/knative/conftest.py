"""The Knative tier: Knative Serving and Eventing built from their Go modules, with
Traefik as the ingress, on a real one-node cluster, and knative/ applied with only
an image overlay (qiskit_operator/local/knative/).

Like the node tier it needs root, Go and Debian's containerd, runc, CNI plugins and
mmdebstrap, and takes minutes: it runs when asked (`make knative-test`,
QOP_KNATIVE_TESTS=1), which `make test` does after the node tier.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from qiskit_operator.local.devcluster import ClusterError
from qiskit_operator.local.knative.install import Knative
from qiskit_operator.local.knative.release import Release
from qiskit_operator.local.node.node import Node, NodeBinaries, missing_tools
from tests.node.machine import MachineState

# Short enough that a test sees every function go to zero and come back; Knative's
# autoscaler accepts nothing under 6 s.
IDLE_SECONDS = 6


@pytest.fixture(scope="session")
def knative_binaries() -> tuple[NodeBinaries, Release]:
    if os.environ.get("QOP_KNATIVE_TESTS") != "1":
        pytest.skip("the Knative tier runs with `make knative-test` (QOP_KNATIVE_TESTS=1)")
    if os.geteuid() != 0:
        pytest.fail("the Knative tier needs root: kubelet, containerd and network namespaces")
    missing = missing_tools()
    if missing or shutil.which("go") is None:
        pytest.fail(f"the Knative tier needs: {', '.join(missing or ['go'])}")
    try:
        return NodeBinaries.build(), Release.build()
    except ClusterError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def knative(knative_binaries: tuple[NodeBinaries, Release]) -> Iterator[Knative]:
    """One node with Knative and the functions as Knative Services, shared by the
    tier; its teardown fails the run if it leaves anything on the machine."""
    node_binaries, release = knative_binaries
    before = MachineState.read()
    node = Node(node_binaries)
    serving = Knative(node, release)
    try:
        node.start()
        serving.install()
        serving.scale_to_zero_after(IDLE_SECONDS)
        serving.deploy_functions(window_seconds=IDLE_SECONDS, resync_after_seconds=5)
        yield serving
    finally:
        serving.quiesce()
        problems = node.stop()
        node.remove()
    left = MachineState.read().left_behind(before)
    assert not problems and not left, f"the Knative node left behind: {problems} {left}"
