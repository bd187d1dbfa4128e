"""Knative Serving's and Eventing's install manifests, assembled from their Go modules.

A release's serving-core.yaml and eventing-core.yaml are `ko resolve` over each
module's config/; here the same files are read from the module cache, with:

- each `ko://knative.dev/<repo>/cmd/<cmd>` replaced by the local image name
  (release.py), `queue-sidecar-image` included;
- what a module zip drops (it keeps no symlinks): the networking CRDs and
  config-network come from knative.dev/networking's config/, the Image CRD from
  knative.dev/caching's;
- left out: HorizontalPodAutoscalers (this is a fixed one-node cluster), the
  job sink and request-reply workloads (nothing here uses them), cert-manager's
  TLS variants, and Eventing's post-install jobs;
- CPU requests trimmed to TRIMMED_CPU: Knative asks about 1.45 cores by default and
  the node has two for everything. Limits stay as Knative sets them.

Used by local/knative/install.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from qiskit_operator.local.knative.release import image_name, module_dir, required_version

Manifest = dict[str, Any]
TRIMMED_CPU = "10m"
_KO = re.compile(r"ko://(knative\.dev/[a-z-]+)/cmd/([a-z_/]+)")
_LEFT_OUT_KINDS = {"HorizontalPodAutoscaler", "Job"}
_LEFT_OUT_WORKLOADS = {"job-sink", "request-reply"}


def _documents(path: Path, version: str) -> Iterator[Manifest]:
    text = _KO.sub(lambda m: image_name(m.group(1), m.group(2), version), path.read_text())
    for document in yaml.safe_load_all(text):
        if isinstance(document, dict) and document.get("kind"):
            yield document


def _tree(directory: Path, version: str) -> list[Manifest]:
    """Every manifest under `directory`, in file-name order, as kubectl reads a folder."""
    found: list[Manifest] = []
    for path in sorted(directory.rglob("*.yaml")):
        found.extend(_documents(path, version))
    return found


def _kept(manifest: Manifest) -> bool:
    if manifest["kind"] in _LEFT_OUT_KINDS:
        return False
    name = manifest.get("metadata", {}).get("name")
    return not (manifest["kind"] in ("Deployment", "StatefulSet") and name in _LEFT_OUT_WORKLOADS)


def _trim(manifest: Manifest) -> Manifest:
    if manifest["kind"] == "Deployment":
        for container in manifest["spec"]["template"]["spec"].get("containers", []):
            requests = container.get("resources", {}).get("requests")
            if requests and "cpu" in requests:
                requests["cpu"] = TRIMMED_CPU
    return manifest


def _finish(manifests: list[Manifest]) -> list[Manifest]:
    return [_trim(manifest) for manifest in manifests if _kept(manifest)]


def serving(version: str, networking_version: str) -> list[Manifest]:
    """serving-crds.yaml and serving-core.yaml, as the release has them."""
    root = module_dir("knative.dev/serving", version)
    networking = module_dir("knative.dev/networking", networking_version) / "config"
    caching_version = required_version(root / "go.mod", "knative.dev/caching")
    caching = module_dir("knative.dev/caching", caching_version) / "config"
    manifests = _tree(root / "config" / "core", version)
    for path in sorted(networking.glob("*.yaml")):
        manifests.extend(_documents(path, version))
    manifests.extend(_documents(caching / "image.yaml", version))
    # CRDs and the namespace first, as serving-crds.yaml comes before serving-core.yaml.
    manifests.sort(key=lambda m: m["kind"] not in ("CustomResourceDefinition", "Namespace"))
    return _finish(manifests)


def eventing(version: str) -> list[Manifest]:
    """eventing-core.yaml, in-memory-channel.yaml and mt-channel-broker.yaml.

    The controller also wants the two image ConfigMaps of
    third_party/eventing-integrations-latest/ (else: `configmap
    "eventing-transformations-images" not found`); they name images of
    integrations that nothing here starts."""
    root = module_dir("knative.dev/eventing", version)
    config = root / "config"
    manifests = _tree(config / "core", version)
    manifests += _tree(config / "channels" / "in-memory-channel", version)
    manifests += _tree(config / "brokers" / "mt-channel-broker", version)
    manifests += _tree(root / "third_party" / "eventing-integrations-latest", version)
    manifests.sort(key=lambda m: m["kind"] not in ("CustomResourceDefinition", "Namespace"))
    return _finish(manifests)


def as_yaml(manifests: list[Manifest]) -> str:
    return yaml.safe_dump_all(manifests, sort_keys=False)
