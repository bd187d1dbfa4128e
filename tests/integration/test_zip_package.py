"""Dockerfiles/zip_package.py on a namespace package: the images zip OpenTelemetry
(`opentelemetry` has no __init__.py; its distributions are portions of it).

tests/e2e/test_zipped_client.py does the same for the kubernetes client against a
real API server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import opentelemetry.trace
import pytest

from tests.conftest import ROOT

ZIP_PACKAGE = ROOT / "Dockerfiles" / "zip_package.py"

# Runs with -I -S: the zip's directory first, then this environment's packages.
EXPORT_A_SPAN = """
import json, site, sys
site.addsitedir(sys.argv[1])
sys.path.append(sys.argv[2])
import opentelemetry
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(
    out=sys.stdout, formatter=lambda span: span.to_json(indent=None) + "\\n"
)))
with provider.get_tracer("zip-test").start_as_current_span("validate job.added"):
    pass
provider.shutdown()
import opentelemetry.sdk.trace
print(json.dumps({"path": list(opentelemetry.__path__), "sdk": opentelemetry.sdk.trace.__file__}))
"""


def test_a_zipped_namespace_package_imports_and_exports_a_span(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    (installed,) = opentelemetry.__path__  # one portion directory in this environment
    shutil.copytree(installed, site / "opentelemetry", ignore=shutil.ignore_patterns("__pycache__"))
    zipping = subprocess.run(
        [sys.executable, str(ZIP_PACKAGE), str(site), "opentelemetry"],
        capture_output=True, text=True, timeout=100, check=False,
    )  # fmt: skip
    assert zipping.returncode == 0, zipping.stderr
    assert sorted(p.name for p in site.iterdir()) == ["opentelemetry.pth", "opentelemetry.zip"]

    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", EXPORT_A_SPAN, str(site), sysconfig.get_path("purelib")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    *spans, summary = result.stdout.strip().splitlines()
    assert [json.loads(span)["name"] for span in spans] == ["validate job.added"]
    # The zip's portion comes first (this environment's own copy is after it on sys.path),
    # so the modules load from the zip.
    loaded = json.loads(summary)
    zipped = site / "opentelemetry.zip" / "opentelemetry"
    assert loaded["path"][0] == str(zipped)
    assert loaded["sdk"] == str(zipped / "sdk" / "trace" / "__init__.pyc")


def test_a_package_with_native_modules_is_refused_by_name(tmp_path: Path) -> None:
    package = tmp_path / "native"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_speedups.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    result = subprocess.run(
        [sys.executable, str(ZIP_PACKAGE), str(tmp_path), "native"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "native has native modules, which zipimport cannot load" in result.stderr
    assert package.is_dir() and not (tmp_path / "native.zip").exists()


@pytest.mark.parametrize("image", ["validate", "execute", "reconcile"])
def test_every_image_zips_opentelemetry(image: str) -> None:
    dockerfile = (ROOT / "Dockerfiles" / f"{image}.Dockerfile").read_text().replace("\\\n", " ")
    runs = [line for line in dockerfile.splitlines() if "zip_package.py /opt/venv" in line]
    assert len(runs) == 1 and "opentelemetry" in runs[0].split()
