"""The functions as pods on the node: their images loaded into containerd, the
results volume, and deploy/without-knative/ applied with the image names set to
the loaded ones. Called by `qop dev up --node`, tests/node/ and benchmarks/.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from qiskit_operator.local.devcluster import REPO
from qiskit_operator.local.node.images import (
    FUNCTIONS,
    Archive,
    engine_function_images,
    import_archives,
    stand_in_function_images,
)
from qiskit_operator.local.node.node import Node

OVERLAY = REPO / "deploy" / "without-knative"
NAMESPACE = "qiskit-operator"
DEPLOYMENTS = (*tuple(f"qiskit-{name}" for name in FUNCTIONS), "qiskit-broker", "qiskit-job-source")


def results_volume(path: Path) -> str:
    """The ReadWriteMany volume the PVC qiskit-results binds to: a directory of the
    node's, which every pod on this one node shares."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, 1000, 1000)  # the functions' uid writes there
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "qiskit-results"},
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": NAMESPACE, "name": "qiskit-results"},
            "hostPath": {"path": str(path), "type": "Directory"},
        },
    }
    return yaml.safe_dump(volume)


def function_images(work: Path) -> Archive:
    """The images the pods run: with QOP_NODE_IMAGES=engine, those `make images` built
    from Dockerfiles/ (`make test` does so); otherwise a stand-in of the same shape
    made without a container engine (images.py)."""
    choice = os.environ.get("QOP_NODE_IMAGES", "stand-in")
    if choice == "engine":
        daemons = REPO / "images" / "daemons.sh"
        found = subprocess.run(
            ["bash", str(daemons), "env"], capture_output=True, text=True, check=True
        )
        pairs = (line.partition("=") for line in found.stdout.splitlines())
        env = {**os.environ, **{name: value for name, _, value in pairs if name}}
        return engine_function_images(work, env)
    if choice != "stand-in":
        raise RuntimeError(f"QOP_NODE_IMAGES is {choice!r}: use engine or stand-in")
    return stand_in_function_images(work)


def deploy_functions(node: Node, timeout: float = 300) -> str:
    """Load the function images, apply the overlay, wait for every Deployment; the
    images' tag."""
    work = node.state.root / "images"
    work.mkdir(exist_ok=True)
    archive = function_images(work)
    import_archives(node.state.containerd_socket, [archive.path])
    tag = archive.name
    overlay = node.state.root / "overlay"
    overlay.mkdir(exist_ok=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(OVERLAY, overlay)],
        "images": [
            {
                "name": f"ghcr.io/qiskit-operator/{name}",
                "newName": f"dev.local/qiskit-operator/{name}",
                "newTag": tag,
            }
            for name in FUNCTIONS
        ],
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    node.kubectl("apply", "-f", "-", stdin=results_volume(node.state.root / "results"))
    node.kubectl("apply", "-k", str(overlay))
    for deployment in DEPLOYMENTS:
        node.kubectl(
            "-n",
            NAMESPACE,
            "rollout",
            "status",
            f"deployment/{deployment}",
            f"--timeout={timeout:.0f}s",
            timeout=timeout + 10,
        )
    return tag
