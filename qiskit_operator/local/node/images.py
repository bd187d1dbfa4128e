"""The node's images, made without a registry or a container engine, and loaded into
the node's containerd.

- pause and CoreDNS: the static binaries controlplane/build.sh makes, FROM scratch.
- the three functions: until `make images` feeds the node, a stand-in of the same
  shape as Dockerfiles/ (Debian's Python 3.11 in /opt/venv with the pinned
  requirements of all three functions, `qop` as the entry point, uid 1000, the
  results directory owned by it). Its base layer (mmdebstrap, then the pinned
  wheels) is cached by its inputs; the package layer is remade from the checkout
  each time.

`python -m qiskit_operator.local.node.images --socket SOCK [ARCHIVE ...]` imports
archives (`docker save` or OCI layout tars, e.g. `make images`' output) instead of
the stand-in. Called by local/node/node.py.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from qiskit_operator.local.devcluster import REPO
from qiskit_operator.local.node.configs import PAUSE_IMAGE
from qiskit_operator.local.node.oci import ImageConfig, scratch_layer, tree_layer, write_archive

FUNCTIONS = ("validate", "execute", "reconcile")
CACHE = Path.home() / ".cache" / "qiskit-operator"
IMAGES = CACHE / "node-images"
WHEELS = IMAGES / "wheels"
SITE_PACKAGES = "/opt/venv/lib/python3.11/site-packages"
RESULTS_DIR = "/var/lib/qiskit-operator/results"
COREDNS_IMAGE = "dev.local/qiskit-operator/coredns:v1"


def function_image(name: str, tag: str) -> str:
    return f"dev.local/qiskit-operator/{name}:{tag}"


@dataclass(frozen=True, slots=True)
class Archive:
    """An image tar to import, and the name (or, for several images, the tag) it carries."""

    path: Path
    name: str


def _sha(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:12]


def system_images(pause: Path, coredns: Path, work: Path) -> list[Archive]:
    """pause and CoreDNS, each its static binary alone in a FROM scratch image."""
    archives = []
    for name, binary, entrypoint in (
        (PAUSE_IMAGE, pause, "/pause"),
        (COREDNS_IMAGE, coredns, "/coredns"),
    ):
        stem = name.rsplit("/", 1)[1].replace(":", "-")
        layer = scratch_layer({entrypoint: binary}, work / f"{stem}.layer.tar")
        config = ImageConfig(entrypoint=[entrypoint])
        out = write_archive([layer], {name: config}, work / f"{stem}.tar")
        archives.append(Archive(out, name))
    return archives


def _requirements() -> str:
    lines: set[str] = set()
    for name in FUNCTIONS:
        for line in (
            (REPO / "Dockerfiles" / "requirements" / f"{name}.txt").read_text().splitlines()
        ):
            pin = line.split("#", 1)[0].strip()
            if pin:
                lines.add(pin)
    return "\n".join(sorted(lines)) + "\n"


def _base_layer(requirements: str) -> Path:
    """Debian bookworm's Python with every function's pinned packages in /opt/venv."""
    script = [
        "mmdebstrap",
        "--quiet",
        "--variant=essential",
        "--include=python3,python3-venv,libseccomp2,libstdc++6,ca-certificates",
    ]
    out = IMAGES / f"functions-base-{_sha(requirements.encode(), ' '.join(script).encode())}.tar"
    if out.exists():
        return out
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "requirements.txt").write_text(requirements)
        # Wheels only, for this machine's CPython 3.11 (Debian's is 3.11 too), from
        # pip's cache or the index: nothing is compiled inside the image.
        download = ["download", "-q", "--only-binary=:all:", "--no-deps", "-d", str(WHEELS)]
        pip = [sys.executable, "-m", "pip"]
        subprocess.run([*pip, *download, "-r", f"{work}/requirements.txt"], check=True)
        hooks = [
            f'mkdir -p "$1/tmp/wheels" && cp {WHEELS}/*.whl {work}/requirements.txt '
            '"$1/tmp/wheels/"',
            'chroot "$1" python3 -m venv --without-pip /opt/venv',
            'chroot "$1" python3 -m venv /tmp/pip',
            'chroot "$1" /tmp/pip/bin/pip --python /opt/venv/bin/python install -q --no-index '
            "--find-links /tmp/wheels -r /tmp/wheels/requirements.txt",
            'rm -rf "$1/tmp/wheels" "$1/tmp/pip" "$1/root/.cache"',
            # The functions run as uid 1000 (knative/services.yaml's runAsUser).
            'echo "qop:x:1000:1000::/tmp:/usr/sbin/nologin" >> "$1/etc/passwd"',
            'echo "qop:x:1000:" >> "$1/etc/group"',
        ]
        # mmdebstrap picks the output's format by its suffix: keep .tar last.
        partial = out.with_name(out.stem + ".partial.tar")
        partial.unlink(missing_ok=True)
        argv = [*script, *(f"--customize-hook={hook}" for hook in hooks)]
        subprocess.run([*argv, "bookworm", str(partial)], check=True)
        partial.rename(out)
    return out


def _source_tag() -> str:
    """A tag that changes whenever what goes into the package layer does."""
    digest = hashlib.sha256()
    for top in ("qiskit_operator", "functions", "knative", "Dockerfiles/requirements"):
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(REPO)).encode() + path.read_bytes())
    return "v" + digest.hexdigest()[:12]


def stand_in_function_images(work: Path) -> Archive:
    """The three functions' images, shaped like Dockerfiles/' (see the module doc), in
    one archive; its `name` is the images' tag."""
    base = _base_layer(_requirements())
    tag = _source_tag()
    wheels = work / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
        check=True,
    )
    tree = work / "tree"
    site = tree / SITE_PACKAGES.lstrip("/")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-compile",
            "--target",
            str(site),
            *map(str, wheels.glob("*.whl")),
        ],
        check=True,
    )
    shutil.rmtree(site / "bin", ignore_errors=True)
    qop = tree / "opt" / "venv" / "bin" / "qop"
    qop.parent.mkdir(parents=True, exist_ok=True)
    qop.write_text(
        "#!/opt/venv/bin/python\nimport sys\nfrom qiskit_operator.cli import main\n"
        "sys.exit(main())\n"
    )
    qop.chmod(0o755)
    package = tree_layer(tree / "opt", "/opt", work / "package.layer.tar", {RESULTS_DIR: 1000})
    configs = {
        function_image(name, tag): ImageConfig(
            entrypoint=["qop"],
            cmd=["serve", name, "--host", "0.0.0.0"],
            env=[
                "PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
                "PYTHONUNBUFFERED=1",
                "PYTHONDONTWRITEBYTECODE=1",
                f"QOP_RESULTS_DIR={RESULTS_DIR}",
                "QOP_REQUIRE_ISOLATION=true",
                "WORKERS=2",
            ],
            user="1000:1000",
        )
        for name in FUNCTIONS
    }
    # One archive: the three images share their layers.
    return Archive(write_archive([base, package], configs, work / "functions.tar"), tag)


def engine_function_images(work: Path, env: dict[str, str]) -> Archive:
    """The three images `make images` built and loaded into its Docker engine (ENV:
    images/daemons.sh's DOCKER_HOST), saved into one archive under dev.local names
    with a tag of their image ids, so a rebuilt image is a new tag the pods roll to."""
    docker = ["docker"]
    loaded = [f"qiskit-operator/{name}:dev" for name in FUNCTIONS]
    found = subprocess.run(
        [*docker, "image", "inspect", "--format", "{{.Id}}", *loaded],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if found.returncode != 0:
        raise RuntimeError(
            f"the node asked for `make images`' images and the engine has not got them "
            f"({found.stderr.strip()}): run `make images` first"
        )
    tag = "v" + _sha(found.stdout.encode())
    names = [function_image(name, tag) for name in FUNCTIONS]
    for source, name in zip(loaded, names, strict=True):
        subprocess.run([*docker, "tag", source, name], env=env, check=True)
    archive = work / "functions.tar"
    try:
        subprocess.run([*docker, "save", "-o", str(archive), *names], env=env, check=True)
    finally:
        subprocess.run([*docker, "rmi", *names], env=env, capture_output=True, check=False)
    return Archive(archive, tag)


def import_archives(socket: Path, archives: list[Path]) -> None:
    """Load image tars into the node's containerd, where kubelet looks (k8s.io)."""
    for archive in archives:
        result = subprocess.run(
            ["ctr", "--address", str(socket), "-n", "k8s.io", "images", "import", str(archive)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"importing {archive} failed: {result.stderr.strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", type=Path, required=True, help="the node's containerd socket")
    parser.add_argument("archives", nargs="*", type=Path, help="image tars (default: stand-ins)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        archives = args.archives or [stand_in_function_images(Path(work)).path]
        import_archives(args.socket, archives)
    return 0


if __name__ == "__main__":
    sys.exit(main())
