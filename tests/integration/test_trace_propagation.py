"""One job is one trace: `qop run --http` over real HTTP servers prints the trace id it
used, every log line about the job carries it, and with an OTLP endpoint configured the
spans arrive over OTLP/HTTP (protobuf) at a real receiver, chained hop by hop."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from qiskit_operator.local.display import TRACE_ANNOTATION
from tests.conftest import ROOT
from tests.serving import qop

TRACE_LINE = re.compile(r"^\s*trace:\s+([0-9a-f]{32})$", re.M)


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, str]
    service: str


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP receiver: POST /v1/traces with an ExportTraceServiceRequest."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.spans: list[Span] = []
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Receive(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        self.server.paths.append(self.path)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.server.spans.append(
                        Span(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            attributes={a.key: a.value.string_value for a in span.attributes},
                            service=resource.get("service.name", ""),
                        )
                    )
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def environment(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LOG_", "K_SERVICE"))}
    env.update({"QOP_RESULTS_DIR": str(tmp / "results"), **extra})
    return env


@dataclass(frozen=True)
class HttpRun:
    trace_id: str
    lines: list[dict[str, object]]
    spans: list[Span]


@pytest.fixture(scope="module")
def http_run(collector: Collector, tmp_path_factory: pytest.TempPathFactory) -> HttpRun:
    """`qop run --http` of Bell, JSON logs at DEBUG, spans to the collector."""
    env = environment(
        tmp_path_factory.mktemp("http-run"),
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    result = qop("run", "--http", "examples/bell.yaml", env=env, timeout=110)
    assert result.returncode == 0, result.stderr[-3000:]
    found = TRACE_LINE.search(result.stdout)
    assert found is not None, result.stdout
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # all JSON, or it fails
    return HttpRun(found.group(1), lines, list(collector.spans))


def test_qop_run_over_http_prints_the_trace_id_it_used(http_run: HttpRun) -> None:
    assert int(http_run.trace_id, 16) != 0
    assert {span.trace_id for span in http_run.spans} == {http_run.trace_id}


def test_every_log_line_about_the_job_carries_its_trace_id(http_run: HttpRun) -> None:
    about = [line for line in http_run.lines if line.get("job") == "default/bell"]
    uid = next(str(line["uid"]) for line in about if "uid" in line)
    mentioning = [line for line in http_run.lines if uid in json.dumps(line)]
    assert {str(line.get("function")) for line in about} >= {"validate", "execute", "reconcile"}
    assert {line.get("trace_id") for line in about + mentioning} == {http_run.trace_id}
    handled = [line for line in about if str(line["message"]).startswith("job.")]
    assert len(handled) >= 5  # validate, execute, and reconcile three times at least
    assert uid.replace("-", "") == http_run.trace_id  # the trace id is the job's uid


def test_the_spans_of_the_bell_pipeline_chain_parent_to_child(http_run: HttpRun) -> None:
    spans = {span.name: span for span in http_run.spans}
    assert set(spans) >= {
        "job default/bell",
        "validate job.added",
        "reconcile job.added",
        "execute job.validated",
        "reconcile job.validated",
        "reconcile job.completed",
    }
    ids = {span.span_id for span in http_run.spans}
    roots = [span for span in http_run.spans if not span.parent_id]
    assert [span.name for span in roots] == ["job default/bell"]
    assert all(span.parent_id in ids for span in http_run.spans if span.parent_id)
    root = spans["job default/bell"]  # reconcile's, as the job moved into Completed
    assert root.attributes["qop.phase"] == "Completed"
    assert spans["validate job.added"].parent_id == root.span_id
    assert spans["reconcile job.added"].parent_id == root.span_id
    assert spans["execute job.validated"].parent_id == spans["validate job.added"].span_id
    assert spans["reconcile job.validated"].parent_id == spans["validate job.added"].span_id
    assert spans["reconcile job.completed"].parent_id == spans["execute job.validated"].span_id
    execute = spans["execute job.validated"]
    assert execute.attributes["qop.job"] == "default/bell"
    assert execute.attributes["qop.outcome"] == "job.completed"
    assert execute.service == "qiskit-operator"


def test_qop_run_in_process_prints_the_trace_and_json_output_carries_it(tmp_path: Path) -> None:
    env = environment(tmp_path)
    text = qop("run", "examples/bell.yaml", env=env, timeout=110)
    assert text.returncode == 0, text.stderr
    assert TRACE_LINE.search(text.stdout) is not None
    as_json = qop("run", "--output", "json", "examples/bell.yaml", env=env, timeout=110)
    assert as_json.returncode == 0, as_json.stderr
    job = json.loads(as_json.stdout)
    trace_id = job["metadata"]["annotations"][TRACE_ANNOTATION]
    assert trace_id == job["metadata"]["uid"].replace("-", "")


def test_the_in_process_pipeline_without_an_exporter_never_imports_opentelemetry(
    tmp_path: Path,
) -> None:
    probe = (
        "import sys\n"
        "from qiskit_operator.local.pipeline import LocalPipeline\n"
        "from tests.conftest import BELL_QASM2, job_manifest\n"
        "with LocalPipeline() as pipeline:\n"
        "    job = pipeline.run(job_manifest(code=BELL_QASM2))\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('opentelemetry'))\n"
        "print(job.status.phase.value, loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.stdout.strip() == "Completed []", result.stderr[-2000:]
