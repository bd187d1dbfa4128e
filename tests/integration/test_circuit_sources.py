"""Jobs whose circuit comes from a ConfigMap or a URL run through the whole pipeline."""

from __future__ import annotations

import base64
import copy
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from qiskit_operator.circuits.fetching import UrlPolicy
from qiskit_operator.circuits.sources import CircuitSources
from qiskit_operator.errors import UserError
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.configmaps import KubeConfigMapReader
from qiskit_operator.local.pipeline import LocalPipeline
from qiskit_operator.models import Phase, QiskitJob
from qiskit_operator.settings import Settings, UrlSettings
from qiskit_operator.status.writer import MemoryStatusStore
from tests.conftest import BELL_PYTHON, BELL_QASM2, example


class ConfigMaps:
    """ConfigMaps held in memory, behind the same interface as the Kubernetes reader.

    The reader on a real API server is tested in tests/e2e with a real kube-apiserver.
    """

    def __init__(self, maps: dict[tuple[str, str], dict[str, str]]) -> None:
        self.maps = maps

    def read_key(self, namespace: str, name: str, key: str) -> str:
        data = self.maps.get((namespace, name))
        if data is None:
            raise UserError(f"ConfigMap {namespace}/{name} does not exist", reason="SourceNotFound")
        if key not in data:
            raise UserError(
                f"ConfigMap {namespace}/{name} has no key {key!r} "
                f"(keys: {', '.join(sorted(data))})",
                reason="SourceNotFound",
            )
        return data[key]


def manifest(name: str, circuit: dict[str, Any]) -> dict[str, Any]:
    job = copy.deepcopy(example("bell.yaml"))
    job["metadata"]["name"] = name
    job["spec"]["circuit"] = circuit
    return job


@pytest.fixture(scope="module")
def circuit_server() -> Iterator[str]:
    @Request.application  # type: ignore[untyped-decorator]
    def app(request: Request) -> Response:
        if request.path == "/bell.qasm":
            return Response(BELL_QASM2)
        if request.path == "/bell.py":
            return Response(BELL_PYTHON)
        return Response("missing", status=404)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def pipeline(circuit_server: str) -> Iterator[LocalPipeline]:
    # The circuit server is on loopback, so it must be named as allowed (and http allowed).
    settings = replace(
        Settings.from_env(),
        urls=UrlSettings(allow_http=True, allowed_hosts=frozenset({circuit_server})),
    )
    configmaps = ConfigMaps(
        {
            ("default", "circuits"): {"bell.py": BELL_PYTHON, "bell.qasm": BELL_QASM2},
            ("default", "binary"): {"bell.qpy": _bell_qpy_base64()},
        }
    )
    with LocalPipeline(settings, store=MemoryStatusStore(), configmaps=configmaps) as running:
        yield running


def _bell_qpy_base64() -> str:
    from qiskit import QuantumCircuit

    from qiskit_operator.circuits.serialization import to_qpy

    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return base64.b64encode(to_qpy(qc)).decode()


def assert_bell(job: QiskitJob) -> None:
    assert job.status is not None and job.status.phase is Phase.COMPLETED, job.status
    assert job.status.results is not None and set(job.status.results.counts or {}) == {"00", "11"}


@pytest.mark.parametrize("key", ["bell.py", "bell.qasm"])
def test_a_configmap_source_runs_to_completed(pipeline: LocalPipeline, key: str) -> None:
    job = pipeline.run(
        manifest(
            f"cm-{key.replace('.', '-')}",
            {"source": "configmap", "configMapRef": {"name": "circuits", "key": key}},
        )
    )
    assert_bell(job)


def test_qpy_in_a_configmap_is_recognised_by_its_key(pipeline: LocalPipeline) -> None:
    job = pipeline.run(
        manifest(
            "cm-qpy", {"source": "configmap", "configMapRef": {"name": "binary", "key": "bell.qpy"}}
        )
    )
    assert_bell(job)


def test_a_missing_configmap_key_fails_the_job_listing_the_keys(pipeline: LocalPipeline) -> None:
    job = pipeline.run(
        manifest(
            "cm-missing",
            {"source": "configmap", "configMapRef": {"name": "circuits", "key": "nope.py"}},
        )
    )
    assert job.status is not None and job.status.phase is Phase.FAILED
    assert "bell.py, bell.qasm" in (job.status.message or "")


@pytest.mark.parametrize("path", ["/bell.qasm", "/bell.py"])
def test_a_url_source_runs_to_completed(
    pipeline: LocalPipeline, circuit_server: str, path: str
) -> None:
    job = pipeline.run(
        manifest(
            f"url{path.replace('/', '-').replace('.', '-')}",
            {"source": "url", "url": f"http://{circuit_server}{path}"},
        )
    )
    assert_bell(job)


def test_a_url_to_a_loopback_address_not_allowed_fails_the_job(
    pipeline: LocalPipeline, circuit_server: str
) -> None:
    other_port = int(circuit_server.rsplit(":", 1)[1]) + 1
    job = pipeline.run(
        manifest(
            "url-private", {"source": "url", "url": f"http://127.0.0.1:{other_port}/bell.qasm"}
        )
    )
    assert job.status is not None and job.status.phase is Phase.FAILED
    assert "127.0.0.1" in (job.status.message or "")


def test_a_url_that_is_not_there_fails_the_job_with_the_status(
    pipeline: LocalPipeline, circuit_server: str
) -> None:
    job = pipeline.run(
        manifest("url-404", {"source": "url", "url": f"http://{circuit_server}/gone.qasm"})
    )
    assert job.status is not None and job.status.phase is Phase.FAILED
    assert "404" in (job.status.message or "")


def test_a_git_source_is_refused_with_what_to_use_instead(pipeline: LocalPipeline) -> None:
    job = pipeline.run(
        manifest(
            "git",
            {
                "source": "git",
                "gitRef": {"repository": "https://example.invalid/r.git", "path": "bell.py"},
            },
        )
    )
    assert job.status is not None and job.status.phase is Phase.FAILED
    assert "source: url" in (job.status.message or "")


def test_without_a_cluster_a_configmap_source_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    sources = CircuitSources(
        configmaps=KubeConfigMapReader(KubeConnection()), url_policy=UrlPolicy(), max_bytes=1000
    )
    spec = QiskitJob.model_validate(
        manifest("x", {"source": "configmap", "configMapRef": {"name": "c", "key": "k"}})
    ).spec.circuit
    with pytest.raises(UserError, match="no Kubernetes cluster"):
        sources.read(spec, "default")
