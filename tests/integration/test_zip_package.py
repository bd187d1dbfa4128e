"""The reconcile image imports the kubernetes client from a zip (Dockerfiles/zip_package.py).

Zips this environment's kubernetes package as the image's build stage does, then,
in a Python that sees the zip before any other copy, reads a ConfigMap through
the project's own adapter from a real HTTP server on loopback: the generated
models, the REST layer and the error path all load from the zip, and a
traceback out of the client still shows its source lines.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import kubernetes
import pytest

from tests.conftest import ROOT

CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "circuits", "namespace": "default"},
    "data": {"bell.qasm": "OPENQASM 2.0;"},
}


class FakeAPIServer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/api/v1/namespaces/default/configmaps/circuits":
            status, body = 200, CONFIGMAP
        else:
            status, body = 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAPIServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# Runs with -I -S: the zip's directory first, then this environment's packages.
READ_THROUGH_THE_ZIP = """
import site, sys, traceback
site.addsitedir(sys.argv[1])
sys.path.append(sys.argv[2])
sys.path.insert(0, sys.argv[3])
import kubernetes
from qiskit_operator.errors import UserError
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.configmaps import KubeConfigMapReader

reader = KubeConfigMapReader(KubeConnection(sys.argv[4]))
print(kubernetes.__file__)
print(reader.read_key("default", "circuits", "bell.qasm"))
try:
    reader.read_key("default", "missing", "bell.qasm")
except UserError as error:
    print(error)
    print("".join(traceback.format_exception(error.__cause__)))
"""


@pytest.mark.timeout(120)
def test_the_zipped_kubernetes_client_reads_a_configmap(api_server: str, tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    installed = Path(kubernetes.__file__).parent
    shutil.copytree(
        installed, site / "kubernetes", ignore=shutil.ignore_patterns("aio", "__pycache__")
    )
    zipping = subprocess.run(
        [sys.executable, str(ROOT / "Dockerfiles" / "zip_package.py"), str(site), "kubernetes"],
        capture_output=True, text=True, timeout=100, check=False,
    )  # fmt: skip
    assert zipping.returncode == 0, zipping.stderr
    assert sorted(path.name for path in site.iterdir()) == ["kubernetes.pth", "kubernetes.zip"]

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": {"server": api_server}}],
            "users": [{"name": "me", "user": {"token": "not-a-secret"}}],
            "contexts": [{"name": "here", "context": {"cluster": "local", "user": "me"}}],
            "current-context": "here",
        })
    )  # fmt: skip
    environment_packages = sysconfig.get_path("purelib")
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", READ_THROUGH_THE_ZIP,
         str(site), environment_packages, str(ROOT), str(kubeconfig)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(site / "kubernetes.zip" / "kubernetes" / "__init__.pyc")
    assert lines[1] == "OPENQASM 2.0;"
    assert lines[2].startswith("ConfigMap default/missing does not exist")
    frames = result.stdout.split('File "')[1:]
    in_the_zip = [frame for frame in frames if frame.startswith(str(site / "kubernetes.zip"))]
    assert in_the_zip, result.stdout
    # Each frame in the zip names its line and shows it: the source is read from the zip.
    assert all(len(frame.splitlines()) >= 2 for frame in in_the_zip), result.stdout
    assert any("raise ApiException" in frame for frame in in_the_zip), result.stdout
