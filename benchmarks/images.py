"""What each function image weighs and how fast it starts, from the images `make images`
pushed and loaded (images/daemons.sh must be running: `make images` leaves it so).

Sizes, per image: compressed as pushed (the layers of its linux/amd64 and linux/arm64
manifests in the registry, what a node pulls), unpacked (`docker image inspect`, the
host platform) and the payload over the Python base (unpacked, less the base's).
Cold start, per function, `--runs` times: `docker run` as knative/services.yaml runs it
(read-only root, uid 1000, no capabilities, a tmpfs at /tmp, host network on loopback)
until GET /ready answers 200, beside the same function started as a plain process
(`qop serve` from this checkout's virtualenv), with WORKERS=1 in both. Prints the
medians beside the issue's goals (unpacked at most 400/450/180 MB, ready in at most
1.0/0.7/0.4 s for validate/execute/reconcile) and the original's (1.3 GB and 1.5 GB,
5 s and 3 s). Exits 1 when a figure could not be measured, not when a goal is missed.

    .venv/bin/python benchmarks/images.py            # 3 starts per function
    .venv/bin/python benchmarks/images.py --quick    # 1 start per function
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("validate", "execute", "reconcile")
GOAL_MB = {"validate": 400, "execute": 450, "reconcile": 180}
GOAL_READY_S = {"validate": 1.0, "execute": 0.7, "reconcile": 0.4}
KNATIVE = [
    "--read-only",
    "--user=1000:1000",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
    "--network=host",
    "--tmpfs=/tmp:rw,size=256m",
]
MB = 1_000_000
POLL = 0.005


def environment() -> dict[str, str]:
    out = subprocess.run(
        ["bash", str(ROOT / "images/daemons.sh"), "env"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    pairs = (line.partition("=") for line in out.splitlines() if "=" in line)
    return {**os.environ, **{name: value for name, _, value in pairs}}


ENV = environment()


def docker(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        ["docker", *args], env=ENV, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.strip()[-500:]}")
    return result.stdout


def raw(ref: str) -> dict[str, object]:
    document: dict[str, object] = json.loads(
        docker("buildx", "imagetools", "inspect", "--raw", ref)
    )
    return document


def pushed_bytes(ref: str) -> dict[str, int]:
    """Compressed bytes of each platform's layers (and config), as the registry holds them."""
    repository = ref.rsplit(":", 1)[0]
    sizes = {}
    document = raw(ref)
    if "manifests" not in document:  # one platform pushed: a plain manifest
        layers = document["layers"]  # type: ignore[index]
        total = sum(layer["size"] for layer in layers) + document["config"]["size"]  # type: ignore[index]
        return {platform_arch(): total}
    for entry in document["manifests"]:  # type: ignore[attr-defined]
        arch = entry.get("platform", {}).get("architecture")
        if arch not in ("amd64", "arm64"):
            continue
        manifest = raw(f"{repository}@{entry['digest']}")
        layers = manifest["layers"]  # type: ignore[index]
        sizes[arch] = sum(layer["size"] for layer in layers) + manifest["config"]["size"]  # type: ignore[index]
    return sizes


def platform_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def unpacked_bytes(ref: str) -> int:
    return int(docker("image", "inspect", "--format", "{{.Size}}", ref).strip())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, started: float, timeout: float = 120) -> float:
    url = f"http://127.0.0.1:{port}/ready"
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(POLL)
    raise RuntimeError(f"no 200 from {url} in {timeout} s")


def container_start(function: str) -> float:
    port = free_port()
    name = f"qop-bench-{function}-{port}"
    started = time.monotonic()
    docker(
        "run",
        "--detach",
        f"--name={name}",
        *KNATIVE,
        f"--env=PORT={port}",
        "--env=WORKERS=1",
        f"qiskit-operator/{function}:dev",
        "serve",
        function,
        "--host",
        "127.0.0.1",
    )
    try:
        return wait_ready(port, started)
    finally:
        docker("rm", "--force", name)


def process_start(function: str) -> float:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "WORKERS": "1", "QOP_REQUIRE_ISOLATION": "true"}
    qop = str(Path(sys.executable).parent / "qop")
    started = time.monotonic()
    process = subprocess.Popen(
        [qop, "serve", function, "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return wait_ready(port, started)
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one start per function")
    parser.add_argument("--base", help="the Python base (default: images/base.sh's, pushed)")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    registry = ENV["QOP_REGISTRY"]
    load = os.getloadavg()[0]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load {load:.1f}; "
        f"docker {docker('version', '--format', '{{.Server.Version}}').strip()}, overlay2"
    )
    base = args.base or f"{registry}/qiskit-operator/python:bookworm"
    docker("pull", "--quiet", base)
    base_unpacked = unpacked_bytes(base)
    base_pushed = pushed_bytes(base)
    pushed_text = ", ".join(f"{arch} {size / MB:.0f} MB" for arch, size in base_pushed.items())
    print(f"base {base}: pushed {pushed_text}; unpacked {base_unpacked / MB:.0f} MB")
    print(
        f"{'image':<10} {'pushed amd64':>13} {'pushed arm64':>13} {'unpacked':>9} "
        f"{'payload':>8} {'goal':>6}   (MB)"
    )
    for function in FUNCTIONS:
        pushed = pushed_bytes(f"{registry}/qiskit-operator/{function}:dev")
        unpacked = unpacked_bytes(f"qiskit-operator/{function}:dev")
        amd64, arm64 = (pushed.get(arch, 0) / MB for arch in ("amd64", "arm64"))
        print(
            f"{function:<10} {amd64:>13.0f} {arm64:>13.0f} "
            f"{unpacked / MB:>9.0f} {(unpacked - base_unpacked) / MB:>8.0f} "
            f"{GOAL_MB[function]:>6}"
        )
    print(f"cold start to /ready, median of {runs} (s):")
    print(f"{'function':<10} {'container':>10} {'process':>8} {'goal':>6}")
    for function in FUNCTIONS:
        container = statistics.median(container_start(function) for _ in range(runs))
        process = statistics.median(process_start(function) for _ in range(runs))
        print(f"{function:<10} {container:>10.2f} {process:>8.2f} {GOAL_READY_S[function]:>6.1f}")
    print("original: validation 1.3 GB, 5 s; executor 1.5 GB, 3 s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as error:
        print(f"FAILED: {error}")
        sys.exit(1)
