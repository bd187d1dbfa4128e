"""What `make images` pushed: a manifest list with both platforms per image, the OCI
labels, and an SPDX SBOM per image and platform."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT
from tests.images.engine import IMAGES, PLATFORMS, Engine

pytestmark = pytest.mark.timeout(300)

TITLES = {
    "validate": "qiskit-validate",
    "execute": "qiskit-execute",
    "reconcile": "qiskit-reconcile",
}


@pytest.mark.parametrize("image", IMAGES)
def test_each_image_is_a_manifest_list_for_amd64_and_arm64(engine: Engine, image: str) -> None:
    index = engine.manifest_list(image)
    assert index["mediaType"] in (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
    platforms = {
        f"{m['platform']['os']}/{m['platform']['architecture']}"
        for m in index["manifests"]
        if m.get("platform", {}).get("os") != "unknown"  # build attestations, if any
    }
    assert platforms == set(PLATFORMS)


@pytest.mark.parametrize("image", IMAGES)
def test_each_loaded_image_carries_its_oci_labels_and_runs_as_uid_1000(
    engine: Engine, image: str
) -> None:
    [inspected] = json.loads(
        engine.docker("image", "inspect", f"qiskit-operator/{image}:dev").stdout
    )
    config = inspected["Config"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == TITLES[image]
    assert labels["org.opencontainers.image.version"] == "dev"
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.description"].startswith(f"qiskit-operator {image}")
    assert config["User"] == "1000:1000"
    assert config["Entrypoint"] == ["qop"]


@pytest.mark.parametrize("image", IMAGES)
@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_each_image_has_an_spdx_sbom_naming_its_python_and_its_packages(
    engine: Engine, image: str, arch: str
) -> None:
    # `make images` writes them as it pushes; `engine` skips this where it has not run.
    path = ROOT / "build" / "sbom" / f"{image}-{arch}.spdx.json"
    sbom = json.loads(path.read_text())
    assert sbom["spdxVersion"].startswith("SPDX-2.")
    names = {package["name"] for package in sbom["packages"]}
    assert {"python3", "qiskit-operator", "functions-framework"} <= names, sorted(names)[:40]
    assert ("qiskit" in names) == (image != "reconcile")
    assert ("qiskit-aer" in names) == (image == "execute")
