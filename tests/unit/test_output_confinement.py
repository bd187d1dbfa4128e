"""What a job names stays in its namespace: escaping result paths and foreign credentials
are refused at admission, and the results volume is written per namespace without
following symlinks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pydantic
import pytest

from qiskit_operator.admission import JobAdmission
from qiskit_operator.errors import UserError
from qiskit_operator.events import payloads
from qiskit_operator.events.apiserver import describe_validation_error
from qiskit_operator.models import QiskitJob
from qiskit_operator.models.spec import OutputSpec
from qiskit_operator.results import ResultStore
from tests.unit.test_admission import Failing, request_of, review

TEAM_A = payloads.JobRef(namespace="team-a", name="bell", uid="0123456789", generation=3)
TEAM_B = payloads.JobRef(namespace="team-b", name="bell", uid="abcdefabcd", generation=1)
ESCAPING = ["../team-b/bell.json", "/etc/passwd", "a/../../b", "..", "a//b", "a/./../b", "x\\y"]


@pytest.mark.parametrize("path", ESCAPING)
def test_an_output_path_that_could_escape_is_refused_saying_what_to_change(path: str) -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        OutputSpec(type="pvc", path=path)
    assert "output.path must be a relative path inside the job's own results directory" in str(
        raised.value
    )


@pytest.mark.parametrize("path", ["bell.json", "runs/2026/bell", "a.b/c-d_e", "..hidden/x"])
def test_a_relative_output_path_is_accepted(path: str) -> None:
    assert OutputSpec(type="pvc", path=path).path == path


@pytest.mark.parametrize("location", ["team-b/bell-results", "../x", "Bell", "a_b", "x" * 254])
def test_an_output_location_that_is_not_an_object_name_is_refused(location: str) -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        OutputSpec(location=location)
    assert "output.location must be the name of an object in the job's own namespace" in str(
        raised.value
    )


def manifest(**output: Any) -> dict[str, Any]:
    return {
        "apiVersion": "quantum.io/v1",
        "kind": "QiskitJob",
        "metadata": {"name": "escape", "namespace": "team-a"},
        "spec": {"circuit": {"code": "OPENQASM 2.0;"}, "output": output},
    }


def test_admission_refuses_an_escaping_output_path_with_the_models_words() -> None:
    # The model refuses it before any check of the circuit could run.
    admission = JobAdmission(Failing(AssertionError("the circuit is not checked")))
    try:
        body = review("CREATE", manifest(type="pvc", path="../team-b/x.json"))
        verdict = admission.decide(request_of(body), 5.0)
    finally:
        admission.close()
    assert not verdict.allowed
    assert "output.path must be a relative path" in (verdict.message or "")


def test_the_default_result_file_lives_under_the_jobs_namespace(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    output = payloads.OutputRequest(type="pvc")
    assert store.path_for(TEAM_A, output) == tmp_path / "team-a" / "bell-01234567-g3.json"


def test_an_output_path_naming_another_namespaces_file_stays_in_its_own(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    victim = store.put(TEAM_B, payloads.OutputRequest(type="pvc"), b"team b's result")
    theirs = store.path_for(TEAM_B, payloads.OutputRequest(type="pvc"))
    named = str(theirs.relative_to(tmp_path))  # exactly B's file, as A would name it
    location = store.put(TEAM_A, payloads.OutputRequest(type="pvc", path=named), b"a's")
    assert theirs.read_bytes() == b"team b's result"
    assert location == (tmp_path.resolve() / "team-a" / named).as_uri() != victim


def test_the_store_refuses_escaping_paths_even_when_admission_was_skipped(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    with pytest.raises(UserError, match="relative path"):
        store.put(TEAM_A, payloads.OutputRequest(type="pvc", path="../team-b/x"), b"no")
    bad_namespace = payloads.JobRef(namespace="..", name="x", uid="u", generation=1)
    with pytest.raises(UserError, match="not a Kubernetes namespace name"):
        store.put(bad_namespace, payloads.OutputRequest(type="pvc"), b"no")
    assert not (tmp_path.parent / "team-b").exists()


def test_a_symlink_in_the_results_directory_is_never_followed(tmp_path: Path) -> None:
    root, outside = tmp_path / "results", tmp_path / "outside"
    (root / "team-a").mkdir(parents=True)
    outside.mkdir()
    os.symlink(outside, root / "team-a" / "runs")
    os.symlink(outside / "file.json", root / "team-a" / "bell.json")
    os.symlink(outside / "partial", root / "team-a" / "next.json.partial")
    store = ResultStore(root)
    for path in ("runs/bell.json", "bell.json"):
        with pytest.raises(UserError, match="symbolic link"):
            store.read(TEAM_A, payloads.OutputRequest(type="pvc", path=path))
    for path in ("runs/bell.json", "next.json"):
        with pytest.raises(UserError, match="symbolic link"):
            store.put(TEAM_A, payloads.OutputRequest(type="pvc", path=path), b"leak")
    # A link where the file goes is replaced by the file, never written through.
    store.put(TEAM_A, payloads.OutputRequest(type="pvc", path="bell.json"), b"mine")
    assert not (root / "team-a" / "bell.json").is_symlink()
    assert list(outside.iterdir()) == []


def test_a_namespace_folder_that_is_a_symlink_is_never_followed(tmp_path: Path) -> None:
    root, other = tmp_path / "results", tmp_path / "results" / "team-b"
    other.mkdir(parents=True)
    os.symlink(other, root / "team-a")
    with pytest.raises(UserError, match="symbolic link"):
        ResultStore(root).put(TEAM_A, payloads.OutputRequest(type="pvc"), b"leak")
    assert list(other.iterdir()) == []


def test_what_put_wrote_read_gives_back(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    output = payloads.OutputRequest(type="configmap", format="csv", path="runs/bell")
    location = store.put(TEAM_A, output, b"binding,outcome,count\n")
    assert location == store.location_for(TEAM_A, output)
    assert store.read(TEAM_A, output) == b"binding,outcome,count\n"


def test_a_job_model_with_an_escaping_path_fails_to_load() -> None:
    with pytest.raises(pydantic.ValidationError):
        QiskitJob.model_validate(manifest(type="pvc", path="/abs/x.json"))


def test_credentials_in_another_namespace_are_refused_saying_what_to_change() -> None:
    body = manifest()
    body["spec"]["credentials"] = {"secretRef": {"name": "ibm", "namespace": "team-b"}}
    with pytest.raises(pydantic.ValidationError) as raised:
        QiskitJob.model_validate(body)
    assert describe_validation_error(raised.value) == (
        "invalid QiskitJob: job: spec.credentials.secretRef.namespace is team-b, but a job "
        "reads Secrets only in its own namespace (team-a); remove secretRef.namespace and "
        "put the Secret in team-a"
    )
    body["spec"]["credentials"]["secretRef"]["namespace"] = "team-a"
    assert QiskitJob.model_validate(body).spec.credentials is not None
