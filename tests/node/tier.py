"""What the root-only tiers (tests/node/, tests/knative/) need before they start."""

from __future__ import annotations

import os
import shutil

import pytest

from qiskit_operator.local.node.node import missing_tools


def require_tier(variable: str, tier: str, make_target: str) -> None:
    """Skip unless `variable`=1 asks for the tier; fail when asked without what it needs."""
    if os.environ.get(variable) != "1":
        pytest.skip(f"the {tier} tier runs with `make {make_target}` ({variable}=1)")
    if os.geteuid() != 0:
        pytest.fail(f"the {tier} tier needs root: kubelet, containerd and network namespaces")
    missing = missing_tools()
    if missing or shutil.which("go") is None:
        pytest.fail(f"the {tier} tier needs: {', '.join(missing or ['go'])}")
