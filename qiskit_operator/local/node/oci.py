"""OCI image archives written without a container engine, for `ctr images import`.

The node tier's images (the pause program, CoreDNS, the functions' stand-in until
`make images` feeds it) are made of uncompressed layers, each a tar of files.
`write_archive` wraps them in an OCI image layout (index, manifest, config, blobs)
that containerd imports as it would a `docker save`.
Called by local/node/images.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """What a container starts with, as the OCI config's `config` section names it."""

    entrypoint: list[str]
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    user: str = "65532"
    workdir: str = "/"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _file_digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest(), path.stat().st_size


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    archive.addfile(info, io.BytesIO(data))


def write_archive(layers: list[Path], images: dict[str, ImageConfig], out: Path) -> Path:
    """Write `out`, an OCI layout tar of the images named in `images` (`dev.local/x:v1`
    -> its config), all of whose filesystem is the tars `layers`, lowest first. The
    layers go in once, however many images share them."""
    digests = [_file_digest(layer) for layer in layers]
    blobs: dict[str, bytes] = {}
    manifests = []
    for name, config in images.items():
        image_config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Entrypoint": config.entrypoint,
                "Cmd": config.cmd,
                "Env": config.env,
                "User": config.user,
                "WorkingDir": config.workdir,
            },
            # Uncompressed, so each layer's digest is also its diff id.
            "rootfs": {"type": "layers", "diff_ids": [digest for digest, _ in digests]},
        }
        config_bytes = json.dumps(image_config).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": CONFIG_MEDIA_TYPE,
                "digest": _digest(config_bytes),
                "size": len(config_bytes),
            },
            "layers": [
                {"mediaType": LAYER_MEDIA_TYPE, "digest": digest, "size": size}
                for digest, size in digests
            ],
        }
        manifest_bytes = json.dumps(manifest).encode()
        blobs[_digest(config_bytes)] = config_bytes
        blobs[_digest(manifest_bytes)] = manifest_bytes
        manifests.append(
            {
                "mediaType": MANIFEST_MEDIA_TYPE,
                "digest": _digest(manifest_bytes),
                "size": len(manifest_bytes),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": name.rpartition(":")[2],
                },
            }
        )
    index = {"schemaVersion": 2, "manifests": manifests}
    with tarfile.open(out, "w") as archive:
        _add_bytes(archive, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add_bytes(archive, "index.json", json.dumps(index).encode())
        for digest, blob in blobs.items():
            _add_bytes(archive, f"blobs/sha256/{digest[7:]}", blob)
        for layer, (digest, _) in zip(layers, digests, strict=True):
            archive.add(layer, f"blobs/sha256/{digest[7:]}")
    return out


def _directory(archive: tarfile.TarFile, name: str, mode: int, owner: int) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.uid = info.gid = owner
    archive.addfile(info)


def scratch_layer(files: dict[str, Path], out: Path) -> Path:
    """A layer with only these executables (image path -> host file) and an empty
    /tmp, as a static Go binary's FROM scratch image has."""
    with tarfile.open(out, "w") as archive:
        _directory(archive, "tmp", 0o1777, 0)
        for inside, host in files.items():
            info = archive.gettarinfo(str(host), inside.lstrip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o755
            with host.open("rb") as stream:
                archive.addfile(info, stream)
    return out


def tree_layer(tree: Path, under: str, out: Path, owned_dirs: dict[str, int]) -> Path:
    """A layer with the directory `tree` at image path `under`, owned by root, plus
    empty directories (image path -> owner uid) such as a volume's mount point."""
    with tarfile.open(out, "w") as archive:

        def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            return info

        archive.add(tree, under.lstrip("/"), filter=as_root)
        for path, owner in owned_dirs.items():
            parts = path.strip("/").split("/")
            for depth in range(1, len(parts)):
                _directory(archive, "/".join(parts[:depth]), 0o755, 0)
            _directory(archive, "/".join(parts), 0o755, owner)
    return out
