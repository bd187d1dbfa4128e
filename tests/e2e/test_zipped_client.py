"""The validate and reconcile images import the kubernetes client from a zip
(Dockerfiles/zip_package.py); this proves that client still talks to a real API server.

Zips this environment's kubernetes package as the images' build stage does,
then, in a Python that sees the zip before any other copy, reads a ConfigMap
from the test kube-apiserver (TLS, a bearer token) through the project's own
adapter: the REST layer, the generated models and the error path all load from
the zip, and a traceback out of the client still shows its source lines.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import kubernetes
import pytest

from qiskit_operator.local.devcluster import DevCluster
from tests.conftest import ROOT

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
print(reader.read_key("default", "zipped-client", "bell.qasm"))
try:
    reader.read_key("default", "zipped-client-missing", "bell.qasm")
except UserError as error:
    print(error)
    print("".join(traceback.format_exception(error.__cause__)))
"""


@pytest.mark.timeout(180)
def test_the_zipped_kubernetes_client_reads_a_configmap(
    cluster: DevCluster, tmp_path: Path
) -> None:
    cluster.kubectl(
        "create", "configmap", "zipped-client", "--namespace", "default",
        "--from-literal=bell.qasm=OPENQASM 2.0;",
    )  # fmt: skip
    site = tmp_path / "site-packages"
    site.mkdir()
    installed = Path(kubernetes.__file__).parent
    shutil.copytree(
        installed, site / "kubernetes", ignore=shutil.ignore_patterns("aio", "__pycache__")
    )
    zipping = subprocess.run(
        [sys.executable, str(ROOT / "Dockerfiles" / "zip_package.py"), str(site), "kubernetes"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert zipping.returncode == 0, zipping.stderr
    assert sorted(path.name for path in site.iterdir()) == ["kubernetes.pth", "kubernetes.zip"]

    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", READ_THROUGH_THE_ZIP, str(site),
         sysconfig.get_path("purelib"), str(ROOT), str(cluster.kubeconfig)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(site / "kubernetes.zip" / "kubernetes" / "__init__.pyc")
    assert lines[1] == "OPENQASM 2.0;"
    assert lines[2].startswith("ConfigMap default/zipped-client-missing does not exist")
    frames = result.stdout.split('File "')[1:]
    in_the_zip = [frame for frame in frames if frame.startswith(str(site / "kubernetes.zip"))]
    assert in_the_zip, result.stdout
    # Each frame in the zip names its line and shows it: the source is read from the zip.
    assert all(len(frame.splitlines()) >= 2 for frame in in_the_zip), result.stdout
    # `raise ApiException(http_resp=r)`; kubernetes 36 (what the ibm and braket extras
    # allow) raises its NotFoundException subclass the same way.
    assert any("Exception(http_resp=r)" in frame for frame in in_the_zip), result.stdout
