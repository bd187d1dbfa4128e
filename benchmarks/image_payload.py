"""The Python payload of each function image, beside the image size targets.

For each image it runs the build stage of the image's Dockerfile on this
machine (its COPY, ENV and RUN lines, the paths moved under a temporary
directory): a venv without pip, the requirements list from wheels, what is
pruned, then the package with --no-deps. It measures site-packages and the
whole venv, and starts the function from that venv (`qop serve NAME` on
127.0.0.1, WORKERS=1) until GET /ready answers 200. The image is estimated as
python:3.11-slim (not measured: no Docker engine here) + the venv + the
function's files; the targets are at most 450 MB for validate and execute, at
most 200 MB for reconcile (the original's images were 1.3 GB and 1.5 GB).

    .venv/bin/python benchmarks/image_payload.py [--quick] [--image reconcile ...]

Wheels come from the pip cache under ~/.cache/qiskit-operator/pip-download, so a
rerun installs without downloading. --quick changes nothing (installing is the
cost, and it is cached); it is accepted so the test suite can run every
benchmark the same way. It reports and does not assert: it exits 1 only when a
figure could not be measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import serving

ROOT = Path(__file__).resolve().parent.parent
PIP_CACHE = Path.home() / ".cache" / "qiskit-operator" / "pip-download"
MB = 1_000_000  # decimal, as `docker images` reports sizes
# python:3.11-slim, uncompressed, as `docker images` shows it (amd64); not measured here.
BASE_IMAGE_MB = 130
TARGETS_MB = {"validate": 450, "execute": 450, "reconcile": 200}
READY_SECONDS = 120


@dataclass
class Payload:
    image: str
    packages: int = 0
    site_packages: int = 0
    pyc: int = 0
    venv: int = 0
    install_seconds: float = 0.0
    ready_seconds: float | None = None
    qiskit: bool = False
    aer: bool = False
    largest: tuple[tuple[str, int], ...] = ()
    kube_import_seconds: float | None = None
    kube_import_unzipped_seconds: float | None = None
    error: str | None = None

    @property
    def image_estimate(self) -> int:
        # knative/ and functions/ are in the venv: the package carries them.
        return BASE_IMAGE_MB * MB + self.venv


def tree_bytes(path: Path) -> int:
    """Bytes of the regular files under path (a symlink is not followed)."""
    return sum(
        file.stat().st_size for file in path.rglob("*") if file.is_file() and not file.is_symlink()
    )


def build_stage(image: str) -> list[tuple[str, str]]:
    """The (KEYWORD, arguments) of the Dockerfile's `AS build` stage."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfiles" / f"{image}.Dockerfile").read_text())
    instructions: list[tuple[str, str]] = []
    in_build = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, arguments = line.partition(" ")
        if keyword.upper() == "FROM":
            in_build = arguments.strip().endswith("AS build")
        elif in_build:
            instructions.append((keyword.upper(), " ".join(arguments.split())))
    return instructions


def install(image: str, workdir: Path) -> Path:
    """Runs the build stage's COPY, ENV and RUN lines with its absolute paths moved
    under workdir, `python` and `pip` being this interpreter's; returns the venv."""
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    for name, command in (("python", sys.executable), ("pip", f"{sys.executable} -m pip")):
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        shim.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "PIP_CACHE_DIR": str(PIP_CACHE),  # the Dockerfile's cache mount
    }

    def moved(arguments: str) -> str:
        return re.sub(
            r"(?<![\w.])/(opt|src|tmp)(?=[/\s]|$)", lambda m: f"{workdir}{m[0]}", arguments
        )

    for keyword, arguments in build_stage(image):
        if keyword == "ENV":
            env.update(pair.partition("=")[::2] for pair in arguments.split())
        elif keyword == "COPY":
            *sources, target = moved(arguments).split()
            for source in sources:
                copy_into(ROOT / source, Path(target), into=target.endswith("/"))
        elif keyword == "RUN":
            command = re.sub(r"^(--mount=\S+\s+)+", "", arguments)
            subprocess.run(
                ["bash", "-euo", "pipefail", "-c", moved(command)],
                cwd=workdir, env=env, check=True, capture_output=True, text=True, timeout=1200,
            )  # fmt: skip
    return workdir / "opt" / "venv"


def copy_into(source: Path, target: Path, into: bool) -> None:
    destination = target / source.name if into else target
    destination.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")  # as .dockerignore
        shutil.copytree(source, destination, ignore=ignore)
    else:
        shutil.copy2(source, destination)


def site_packages(venv: Path) -> Path:
    (found,) = venv.glob("lib/python3*/site-packages")
    return found


def measure(image: str, venv: Path, payload: Payload) -> None:
    site = site_packages(venv)
    payload.site_packages = tree_bytes(site)
    payload.venv = tree_bytes(venv)
    payload.pyc = sum(p.stat().st_size for p in site.rglob("*.pyc"))
    infos = [p.name for p in site.glob("*.dist-info")]
    payload.packages = len(infos)
    payload.qiskit = any(name.startswith("qiskit-") for name in infos)
    payload.aer = any(name.startswith("qiskit_aer-") for name in infos)
    sizes = [
        (entry.name, tree_bytes(entry) if entry.is_dir() else entry.stat().st_size)
        for entry in site.iterdir()
        if not entry.name.endswith(".dist-info") and entry.name != "__pycache__"
    ]
    payload.largest = tuple(sorted(sizes, key=lambda item: -item[1])[:5])


def time_to_ready(image: str, venv: Path, workdir: Path) -> float:
    """Seconds from starting `qop serve` in the venv until GET /ready answers 200."""
    port = serving.free_port()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",  # as in the image, whose venv is read-only
        "WORKERS": "1",
        "QOP_RESULTS_DIR": str(workdir / "results"),
    }
    log = (workdir / "serve.log").open("wb")
    started = time.perf_counter()
    server = serving.start(image, port, log, env, qop=[str(venv / "bin" / "qop")], cwd=workdir)
    try:
        while time.perf_counter() - started < READY_SECONDS:
            if server.poll() is not None:
                raise RuntimeError(f"qop serve exited {server.returncode}: {_tail(workdir)}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"not ready after {READY_SECONDS} s: {_tail(workdir)}")
    finally:
        serving.stop(server)
        log.close()


IMPORT_KUBERNETES = (
    "import time; t = time.perf_counter(); import kubernetes.client; print(time.perf_counter() - t)"
)


def unzip_beside(venv: Path) -> Path | None:
    """Extracts a zipped kubernetes package (Dockerfiles/zip_package.py) into a directory
    beside its zip, with ordinary bytecode, parked under another name; None if not zipped.
    Renamed to `kubernetes` it wins over the zip (site-packages comes before a .pth
    entry on sys.path), so the two can be timed alternately."""
    site = site_packages(venv)
    archive = site / "kubernetes.zip"
    if not archive.exists():
        return None
    parked = site / "kubernetes.unzipped"
    with tempfile.TemporaryDirectory(dir=site) as scratch:
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(scratch)
        for legacy in Path(scratch, "kubernetes").rglob("*.pyc"):
            legacy.unlink()
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "compileall", "-q", f"{scratch}/kubernetes"],
            capture_output=True, timeout=300, check=True,
        )  # fmt: skip
        Path(scratch, "kubernetes").rename(parked)
    return parked


def import_seconds(python: Path) -> float | None:
    done = subprocess.run(
        [str(python), "-c", IMPORT_KUBERNETES],
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return float(done.stdout) if done.returncode == 0 else None


def kube_import_seconds(venv: Path, runs: int = 9) -> tuple[float | None, float | None]:
    """Median seconds of `import kubernetes.client` in a fresh python (what the first
    Kubernetes API call of a process pays): as built, and, where the image zips the
    package, unzipped, the two alternating so that the machine's load falls on both."""
    python = venv / "bin" / "python"
    parked = unzip_beside(venv)
    built: list[float] = []
    unzipped: list[float] = []
    for _ in range(runs):
        seconds = import_seconds(python)
        if seconds is None:
            return None, None
        built.append(seconds)
        if parked is not None:
            parked.rename(parked.with_name("kubernetes"))
            seconds = import_seconds(python)
            parked.with_name("kubernetes").rename(parked)
            if seconds is not None:
                unzipped.append(seconds)
    return median(built), median(unzipped) if unzipped else None


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _tail(workdir: Path) -> str:
    return (workdir / "serve.log").read_text(errors="replace")[-600:].replace("\n", " | ")


def payload_of(image: str) -> Payload:
    payload = Payload(image)
    with tempfile.TemporaryDirectory(prefix=f"qop-image-{image}-") as tmp:
        workdir = Path(tmp)
        try:
            started = time.perf_counter()
            venv = install(image, workdir)
            payload.install_seconds = time.perf_counter() - started
            measure(image, venv, payload)
            payload.ready_seconds = time_to_ready(image, venv, workdir)
            payload.kube_import_seconds, payload.kube_import_unzipped_seconds = kube_import_seconds(
                venv
            )
        except subprocess.CalledProcessError as error:
            payload.error = f"pip failed: {(error.stderr or '').strip()[-300:]}"
        except (RuntimeError, OSError, ValueError) as error:
            payload.error = f"{type(error).__name__}: {error}"
    print(f"  measured {image}", file=sys.stderr, flush=True)
    return payload


def megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB"


def report(payloads: list[Payload]) -> None:
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, pip {version('pip')}"
    )
    print()
    print(
        "| image | packages | site-packages | of it .pyc | venv | image, estimated "
        "| target | Qiskit, Aer | ready after | install |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |")
    for p in payloads:
        if p.error:
            print(f"| {p.image} | FAILED: {p.error} |")
            continue
        target = TARGETS_MB[p.image]
        verdict = "met" if p.image_estimate <= target * MB else "NOT met"
        stack = f"{'yes' if p.qiskit else 'no'}, {'yes' if p.aer else 'no'}"
        print(
            f"| {p.image} | {p.packages} | {megabytes(p.site_packages)} | {megabytes(p.pyc)} "
            f"| {megabytes(p.venv)} | {megabytes(p.image_estimate)} "
            f"| at most {target} MB: {verdict} | {stack} | {p.ready_seconds:.1f} s "
            f"| {p.install_seconds:.0f} s |"
        )
    print()
    print(
        f"image, estimated = python:3.11-slim (about {BASE_IMAGE_MB} MB uncompressed; "
        "not measured, no Docker engine here) + the venv."
    )
    print("The original's images: 1.3 GB and 1.5 GB. MB = 10^6 bytes, as `docker images`.")
    print("ready after: `qop serve NAME` from the venv, WORKERS=1, until GET /ready is 200.")
    for p in payloads:
        if not p.error:
            biggest = ", ".join(f"{name} {megabytes(size)}" for name, size in p.largest)
            print(f"largest in {p.image}: {biggest}")
    for p in payloads:
        if p.kube_import_seconds is not None:
            unzipped = p.kube_import_unzipped_seconds
            print(
                f"import kubernetes.client in the {p.image} venv, median of 9 fresh processes "
                f"alternating (its first API call pays it): {p.kube_import_seconds:.3f} s as built"
                + (f", {unzipped:.3f} s with the package unzipped" if unzipped else "")
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="accepted; measures the same")
    parser.add_argument(
        "--image", action="append", choices=list(TARGETS_MB), help="only this one (repeatable)"
    )
    args = parser.parse_args()
    payloads = [payload_of(image) for image in args.image or TARGETS_MB]
    report(payloads)
    return 1 if any(p.error for p in payloads) else 0


if __name__ == "__main__":
    sys.exit(main())
