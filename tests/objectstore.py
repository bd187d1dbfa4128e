"""A real S3-compatible server on loopback for the tests of `output.type: s3`.

versitygw, built from its Go module by controlplane/objectstore.sh (once, cached
under ~/.cache/qiskit-operator/bin), serving its posix backend from a temporary
folder on 127.0.0.1 only. Without Go the tests that need it skip on a laptop; in
CI (CI=true) that is a failure.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from qiskit_operator.storage.s3 import S3Bucket
from qiskit_operator.storage.signing import AccessKey
from tests.cluster import IN_CI
from tests.conftest import ROOT

ACCESS_KEY = AccessKey("qop-test-access", "qop-test-secret-5e1f0a")
BUILD_SECONDS = 1800  # the first build, on two busy cores


def versitygw_or_skip() -> Path:
    if shutil.which("go") is None:
        if IN_CI:
            pytest.fail("Go is needed to build versitygw, and CI must run the S3 tests")
        pytest.skip("Go is not installed: this test needs a real S3 server (versitygw)")
    built = subprocess.run(
        [str(ROOT / "controlplane" / "objectstore.sh")],
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
    )
    if built.returncode != 0:
        message = f"controlplane/objectstore.sh failed: {built.stderr[-2000:]}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return Path(built.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class ObjectServer:
    endpoint: str
    root: Path

    def bucket(self, name: str) -> S3Bucket:
        return S3Bucket(self.endpoint, name, ACCESS_KEY, attempts=2, timeout_seconds=10)

    def created_bucket(self, name: str) -> S3Bucket:
        bucket = self.bucket(name)
        bucket.create()
        return bucket


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_object_server(
    binary: Path, workdir: Path, port: int | None = None
) -> Iterator[ObjectServer]:
    """versitygw on 127.0.0.1:`port` (a free one by default), stopped on leaving."""
    port = port or free_port()
    data = workdir / "buckets"
    data.mkdir(parents=True, exist_ok=True)
    log = (workdir / "versitygw.log").open("wb")
    process = subprocess.Popen(
        [
            str(binary),
            "--access",
            ACCESS_KEY.access_key_id,
            "--secret",
            ACCESS_KEY.secret_access_key,
            "--port",
            f"127.0.0.1:{port}",
            "posix",
            str(data),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"versitygw exited with {process.returncode}: "
                    + (workdir / "versitygw.log").read_text(errors="replace")[-2000:]
                )
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("versitygw did not listen within 60 s") from None
                time.sleep(0.1)
        yield ObjectServer(f"http://127.0.0.1:{port}", data)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
