"""The Docker engine, registry and buildx that `make images` leaves running, as the
image tests use them: run an image as Knative runs it, read a manifest list.

Everything here talks to loopback only: containers run with --network host and listen
on 127.0.0.1 at a free port; the registry is on 127.0.0.1 (images/daemons.sh).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

from tests.conftest import ROOT

IMAGES = ("validate", "execute", "reconcile")
PLATFORMS = ("linux/amd64", "linux/arm64")
# knative/services.yaml's securityContext, as docker run flags: a read-only root, uid
# 1000, no capabilities, no privilege gained on exec, and an emptyDir at /tmp.
AS_KNATIVE_RUNS_IT = (
    "--read-only",
    "--user=1000:1000",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
    "--network=host",
)
WRITABLE_TMP = "--tmpfs=/tmp:rw,nosuid,nodev,size=256m"


def environment() -> dict[str, str]:
    """DOCKER_HOST, DOCKER_CONFIG, BUILDX_BUILDER and QOP_REGISTRY of images/daemons.sh."""
    result = subprocess.run(
        ["bash", str(ROOT / "images" / "daemons.sh"), "env"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    pairs = (line.partition("=") for line in result.stdout.splitlines() if "=" in line)
    return {name: value for name, _, value in pairs}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Engine:
    env: dict[str, str]

    @property
    def registry(self) -> str:
        return self.env["QOP_REGISTRY"]

    def pushed(self, image: str) -> str:
        return f"{self.registry}/qiskit-operator/{image}:dev"

    def docker(
        self, *args: str, timeout: float = 300, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["docker", *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {result.stderr[-3000:]}")
        return result

    def manifest_list(self, image: str) -> dict[str, Any]:
        raw = self.docker("buildx", "imagetools", "inspect", "--raw", self.pushed(image))
        index: dict[str, Any] = json.loads(raw.stdout)
        return index

    def for_platform(self, image: str, platform: str) -> str:
        """The pushed image's own manifest for `platform`, by digest, pulled."""
        os_name, arch = platform.split("/")
        for entry in self.manifest_list(image)["manifests"]:
            found = entry.get("platform", {})
            if (found.get("os"), found.get("architecture")) == (os_name, arch):
                ref = f"{self.registry}/qiskit-operator/{image}@{entry['digest']}"
                self.docker("pull", "--quiet", ref)
                return ref
        raise AssertionError(f"{image}: no {platform} manifest in {self.pushed(image)}")

    def run(
        self,
        ref: str,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 300,
        flags: tuple[str, ...] = (WRITABLE_TMP,),
    ) -> subprocess.CompletedProcess[str]:
        """`docker run --rm` of `ref` as Knative runs it, to its end."""
        settings = [f"--env={name}={value}" for name, value in (env or {}).items()]
        return self.docker(
            "run",
            "--rm",
            *AS_KNATIVE_RUNS_IT,
            *flags,
            *settings,
            ref,
            *args,
            timeout=timeout,
            check=False,
        )

    @contextmanager
    def serving(
        self,
        ref: str,
        function: str,
        *,
        env: dict[str, str] | None = None,
        ready_timeout: float = 120,
    ) -> Iterator[str]:
        """`qop serve FUNCTION` in `ref` as Knative runs it, ready; yields its base URL."""
        port = free_port()
        name = f"qop-test-{function}-{uuid.uuid4().hex[:8]}"
        settings = [f"--env={k}={v}" for k, v in {"PORT": str(port), **(env or {})}.items()]
        self.docker(
            "run",
            "--detach",
            f"--name={name}",
            *AS_KNATIVE_RUNS_IT,
            WRITABLE_TMP,
            *settings,
            ref,
            "serve",
            function,
            "--host",
            "127.0.0.1",
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(base, ready_timeout, lambda: self.logs(name))
            yield base
        finally:
            self.docker("rm", "--force", name, check=False)

    def logs(self, name: str) -> str:
        result = self.docker("logs", "--tail", "60", name, check=False)
        return result.stdout + result.stderr


def wait_until_ready(base: str, timeout: float, logs: Any) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/ready", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or no worker warm enough to take the connection
        time.sleep(0.1)
    raise AssertionError(f"{base}/ready did not answer 200 in {timeout} s:\n{logs()}")
