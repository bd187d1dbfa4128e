"""The Knative release the Knative tier runs: its versions, the Go modules its
manifests come from, and the programs controlplane/build.sh builds from them.

Each program becomes a FROM scratch image named `dev.local/knative/<name>:<version>`:
Knative skips tag-to-digest resolution for dev.local (config-deployment's
registries-skipping-tag-resolving), and a tag other than `latest` is pulled only
IfNotPresent, so nothing asks a registry. Used by local/knative/manifests.py and
install.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from qiskit_operator.local.devcluster import BUILD_SCRIPT, ClusterError, versions
from qiskit_operator.local.node.oci import ImageConfig, scratch_layer, write_archive

# Serving's and Eventing's commands that run as Deployments here, by import path
# under the module; the others that manifests name (job sink, request-reply, ...)
# are never started, so never built.
SERVING_COMMANDS = ("controller", "webhook", "autoscaler", "activator", "queue")
EVENTING_COMMANDS = (
    "controller",
    "webhook",
    "mtchannel_broker",
    "broker/ingress",
    "broker/filter",
    "in_memory/channel_controller",
    "in_memory/channel_dispatcher",
    "mtping",
)
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def image_name(module: str, command: str, version: str) -> str:
    """`knative.dev/eventing` + `broker/ingress` -> dev.local/knative/eventing-broker-ingress:v…"""
    repo = module.rsplit("/", 1)[1]
    return f"dev.local/knative/{repo}-{command.replace('/', '-').replace('_', '-')}:{version}"


def module_dir(module: str, version: str) -> Path:
    """The module's folder in the Go module cache, downloaded when missing."""
    with tempfile.TemporaryDirectory() as empty:
        result = subprocess.run(
            ["go", "mod", "download", "-json", f"{module}@{version}"],
            capture_output=True,
            text=True,
            cwd=empty,
            env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"},
            check=False,
        )
    if result.returncode != 0:
        raise ClusterError(f"go mod download {module}@{version} failed: {result.stdout}")
    return Path(json.loads(result.stdout)["Dir"])


def required_version(go_mod: Path, module: str) -> str:
    """The version of `module` that a go.mod requires."""
    for line in go_mod.read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in (module, "require") and module in words:
            return words[words.index(module) + 1]
    raise ClusterError(f"{go_mod} does not require {module}")


@dataclass(frozen=True, slots=True)
class Release:
    """The built programs of one Knative release, and Traefik's."""

    serving_version: str
    eventing_version: str
    serving_bin: Path
    eventing_bin: Path
    adapter: Path
    traefik: Path

    @classmethod
    def build(cls) -> Release:
        """Build what is missing (minutes, once per version), then find everything."""
        root = ""
        for part in ("adapter", "knative"):
            result = subprocess.run(
                ["bash", str(BUILD_SCRIPT), part], capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                raise ClusterError(f"building {part} failed:\n{result.stderr[-3000:]}")
            root = result.stdout.strip().splitlines()[-1]
        found = versions()
        serving, eventing = found["KNATIVE_SERVING_VERSION"], found["KNATIVE_EVENTING_VERSION"]
        bin_dir = Path(root)
        return cls(
            serving_version=serving,
            eventing_version=eventing,
            serving_bin=bin_dir / f"knative-serving-{serving}",
            eventing_bin=bin_dir / f"knative-eventing-core-{eventing}",
            adapter=bin_dir / f"knative-eventing-{eventing}" / "apiserver_receive_adapter",
            traefik=bin_dir / f"traefik-{found['TRAEFIK_VERSION']}" / "traefik",
        )

    def programs(self) -> dict[str, Path]:
        """Image name -> the static binary it runs."""
        serving = {
            image_name("knative.dev/serving", command, self.serving_version): self.serving_bin
            / command
            for command in SERVING_COMMANDS
        }
        eventing = {
            image_name("knative.dev/eventing", command, self.eventing_version): self.eventing_bin
            / command.rsplit("/", 1)[-1]
            for command in EVENTING_COMMANDS
        }
        adapter = image_name(
            "knative.dev/eventing", "apiserver_receive_adapter", self.eventing_version
        )
        return {**serving, **eventing, adapter: self.adapter}

    def image_archives(self, work: Path) -> list[Path]:
        """Every program alone in a FROM scratch image with the CA bundle and a /tmp,
        running as uid 65532 (ImageConfig's default), one archive each for
        `ctr images import`: write_archive stacks all its layers under every image."""
        work.mkdir(parents=True, exist_ok=True)
        archives = []
        for index, (name, binary) in enumerate(sorted(self.programs().items())):
            entrypoint = f"/ko-app/{binary.name}"
            layer = scratch_layer(
                {entrypoint: binary, str(CA_BUNDLE): CA_BUNDLE},
                work / f"knative-{index}.layer.tar",
            )
            config = ImageConfig(entrypoint=[entrypoint])
            archives.append(write_archive([layer], {name: config}, work / f"knative-{index}.tar"))
            layer.unlink()
        return archives
