"""Admission of QiskitJobs: AdmissionReview v1 read and written, and the decisions, made
by the pipeline's real Validator on the shared warm sandbox."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import flask
import pytest

from qiskit_operator import metrics
from qiskit_operator.admission import (
    AdmissionApi,
    AdmissionRequest,
    JobAdmission,
    MalformedReviewError,
    Verdict,
    budget_seconds,
    read_review,
    write_review,
)
from qiskit_operator.circuits.fetching import UrlPolicy
from qiskit_operator.circuits.sources import CircuitSources
from qiskit_operator.errors import TransientError
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.configmaps import KubeConfigMapReader
from qiskit_operator.models import QiskitJob
from qiskit_operator.sandbox.pool import SandboxPool
from qiskit_operator.settings import LimitSettings
from qiskit_operator.validating import Validator
from tests.conftest import BELL_QASM2, example, job_manifest

SYNTAX_ERROR = "Python syntax error at line 4: '(' was never closed"
# Not a straight-line program, so it runs in a sandbox child: tens of milliseconds at least.
SLOW_PYTHON = """from qiskit import QuantumCircuit
n = 0
while n < 3000000:
    n += 1
qc = QuantumCircuit(1, 1)
qc.measure(0, 0)
"""
QISKITJOB = {"group": "quantum.io", "version": "v1", "kind": "QiskitJob"}


def review(
    operation: str,
    obj: dict[str, Any] | None,
    old: dict[str, Any] | None = None,
    kind: dict[str, str] = QISKITJOB,
    **request: Any,
) -> dict[str, Any]:
    """An AdmissionReview as kube-apiserver sends it."""
    body: dict[str, Any] = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": kind,
        "resource": {"group": "quantum.io", "version": "v1", "resource": "qiskitjobs"},
        "operation": operation,
        "namespace": "default",
        "name": (obj or old or {}).get("metadata", {}).get("name", ""),
        "userInfo": {"username": "admin"},
        "object": obj,
        "oldObject": old,
        "dryRun": False,
        **request,
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": body}


def request_of(body: dict[str, Any]) -> AdmissionRequest:
    return read_review(json.dumps(body).encode()).request


@pytest.fixture(scope="module")
def admission(sandbox: SandboxPool) -> Iterator[JobAdmission]:
    sources = CircuitSources(
        configmaps=KubeConfigMapReader(KubeConnection()),  # never read: see NOT_CHECKED
        url_policy=UrlPolicy(),
        max_bytes=1 << 20,
    )
    validator = Validator(sandbox, sources, LimitSettings(max_qubits=8))
    decider = JobAdmission(validator)
    yield decider
    decider.close()


def decide(admission: JobAdmission, body: dict[str, Any], budget: float = 8.0) -> Verdict:
    return admission.decide(request_of(body), budget)


class Failing:
    """A check with a bug in it: the one failure a real Validator cannot be made to have."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def validate(self, job: QiskitJob) -> object:
        raise self.error


# Reading and writing AdmissionReviews


def test_a_review_from_the_api_server_is_read_with_its_uid_and_objects() -> None:
    old = job_manifest("bell")
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"team": "q"}
    request = request_of(review("UPDATE", new, old, dryRun=True))
    assert request.uid == "705ab4f5-6393-11e8-b7cc-42010a800002"
    assert (request.operation, request.kind.kind, request.dry_run) == ("UPDATE", "QiskitJob", True)
    assert request.old_object == old and request.object == new


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "Invalid JSON"),
        (b"[]", "body"),
        (json.dumps({"kind": "AdmissionReview", "request": {}}).encode(), "apiVersion"),
        (
            json.dumps({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}),
            "apiVersion",
        ),
        (json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}), "request"),
        (json.dumps(review("CREATE", {}, uid="")), "request.uid"),
        (json.dumps(review("PATCH", {})), "request.operation"),
    ],
)
def test_a_body_that_is_not_an_admission_review_v1_is_refused_naming_the_problem(
    body: bytes | str, words: str
) -> None:
    with pytest.raises(MalformedReviewError) as raised:
        read_review(body.encode() if isinstance(body, str) else body)
    assert str(raised.value).startswith("not an admission.k8s.io/v1 AdmissionReview: ")
    assert words in str(raised.value)


def test_an_allowed_answer_echoes_the_uid_and_carries_the_warnings() -> None:
    answer = json.loads(write_review("u-1", Verdict(allowed=True, warnings=("look",))))
    assert answer == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "u-1", "allowed": True, "warnings": ["look"]},
    }
    assert "warnings" not in json.loads(write_review("u-2", Verdict(allowed=True)))["response"]


def test_a_refusal_carries_a_failure_status_with_the_message() -> None:
    answer = json.loads(write_review("u-3", Verdict(allowed=False, message=SYNTAX_ERROR)))
    assert answer["response"] == {
        "uid": "u-3",
        "allowed": False,
        "status": {"code": 403, "message": SYNTAX_ERROR, "reason": "Forbidden"},
    }


@pytest.mark.parametrize(
    ("timeout", "budget"),
    [(None, 8.0), ("10s", 8.0), ("5s", 4.0), ("2s", 1.0), ("1m0s", 48.0), ("1s", 0.2)],
)
def test_the_budget_leaves_time_for_the_answer_within_the_api_servers_timeout(
    timeout: str | None, budget: float
) -> None:
    assert budget_seconds(timeout) == pytest.approx(budget)


def test_a_timeout_that_is_not_a_duration_takes_the_default_budget() -> None:
    assert budget_seconds("soon") == budget_seconds(None)


# Decisions


def test_a_python_syntax_error_is_refused_with_the_line_and_the_reason(
    admission: JobAdmission,
) -> None:
    verdict = decide(admission, review("CREATE", example("broken.yaml")))
    assert verdict == Verdict(allowed=False, message=SYNTAX_ERROR)


def test_a_good_job_is_allowed_without_warnings(admission: JobAdmission) -> None:
    assert decide(admission, review("CREATE", example("bell.yaml"))) == Verdict(allowed=True)
    qasm = job_manifest("bell-qasm", BELL_QASM2)
    assert decide(admission, review("CREATE", qasm)) == Verdict(allowed=True)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            {"circuit": {"code": 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[9];\nh q[0];\n'}},
            "the circuit declares 9 qubits; at most 8 are allowed (QOP_MAX_QUBITS)",
        ),
        (
            {
                "circuit": {
                    "code": 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\n'
                    "for int i in [0:1000000000] { h q[0]; }\n",
                    "format": "qasm3",
                }
            },
            "at most 1000000 are allowed (QOP_MAX_INSTRUCTIONS)",
        ),
        ({"backend": {"type": "ibm_quantum"}}, "backend.type ibm_quantum needs backend.name"),
        (
            {
                "backend": {"type": "aws_braket"},
                "execution": {"primitive": "estimator", "observables": ["ZZ"]},
            },
            "runs the sampler, not the estimator",
        ),
        ({"backend": {"name": "ibm_brisbane"}}, "backend.name ibm_brisbane is not a simulator"),
        ({"execution": {"primitive": "estimator", "observables": ["ZZZ"]}}, "3-qubit term"),
        ({"circuit": {"source": "git", "gitRef": {"repository": "r", "path": "p"}}}, "git"),
    ],
)
def test_what_the_pipeline_would_refuse_is_refused_with_the_pipelines_words(
    admission: JobAdmission, change: dict[str, Any], words: str
) -> None:
    manifest = job_manifest("bad", BELL_QASM2)
    manifest["spec"].update(change)
    verdict = decide(admission, review("CREATE", manifest))
    assert not verdict.allowed
    assert words in (verdict.message or "")


@pytest.mark.parametrize(
    ("circuit", "words"),
    [
        ({"source": "configmap", "configMapRef": {"name": "c", "key": "bell.qasm"}}, "ConfigMap"),
        ({"source": "url", "url": "https://example.org/bell.qasm"}, "URL"),
    ],
)
def test_a_circuit_from_elsewhere_is_allowed_with_a_warning_that_it_is_checked_later(
    admission: JobAdmission, circuit: dict[str, Any], words: str
) -> None:
    manifest = job_manifest("elsewhere")
    manifest["spec"]["circuit"] = circuit
    verdict = decide(admission, review("CREATE", manifest))
    assert verdict.allowed and verdict.message is None
    (warning,) = verdict.warnings
    assert warning.startswith("default/elsewhere: ") and words in warning
    assert "status.message" in warning


def test_a_rule_the_api_server_would_have_refused_is_refused_here_too(
    admission: JobAdmission,
) -> None:
    manifest = job_manifest("no-ref")
    manifest["spec"]["circuit"] = {"source": "configmap"}
    verdict = decide(admission, review("CREATE", manifest))
    assert verdict == Verdict(
        allowed=False,
        message="invalid QiskitJob: spec.circuit: circuit.source is configmap, "
        "so circuit.configMapRef is required",
    )


def test_an_update_that_leaves_the_spec_alone_is_allowed_even_for_a_broken_job(
    admission: JobAdmission,
) -> None:
    old = example("broken.yaml")
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"reviewed": "yes"}
    new["metadata"]["finalizers"] = ["quantum.io/results"]
    assert decide(admission, review("UPDATE", new, old)) == Verdict(allowed=True)


def test_an_update_that_changes_the_spec_is_checked(admission: JobAdmission) -> None:
    old = example("broken.yaml")
    new = copy.deepcopy(old)
    new["spec"]["execution"] = {"shots": 10}
    assert decide(admission, review("UPDATE", new, old)).message == SYNTAX_ERROR
    fixed = job_manifest("broken")
    assert decide(admission, review("UPDATE", fixed, old)) == Verdict(allowed=True)


@pytest.mark.parametrize(
    "body",
    [
        review("DELETE", None, example("broken.yaml")),
        review("UPDATE", example("broken.yaml"), None, subResource="status"),
        review(
            "CREATE", example("broken.yaml"), kind={"group": "", "version": "v1", "kind": "Pod"}
        ),
    ],
    ids=["delete", "status", "another-kind"],
)
def test_what_is_not_a_create_or_update_of_a_job_is_allowed_unchecked(
    admission: JobAdmission, body: dict[str, Any]
) -> None:
    assert decide(admission, body) == Verdict(allowed=True)


def test_a_job_created_with_generate_name_is_checked(admission: JobAdmission) -> None:
    manifest = example("broken.yaml")
    del manifest["metadata"]["name"]
    manifest["metadata"]["generateName"] = "broken-"
    assert decide(admission, review("CREATE", manifest)).message == SYNTAX_ERROR


def test_a_check_that_would_outlast_the_budget_is_allowed_with_a_warning(
    admission: JobAdmission,
) -> None:
    # The warning is the verdict of a wait that ended at the budget, with the check
    # still running: had decide waited for the check, it would carry none.
    verdict = decide(admission, review("CREATE", job_manifest("slow", SLOW_PYTHON)), budget=0.01)
    assert verdict.allowed
    assert verdict.warnings == (
        "default/slow: the circuit was not checked within 0.01 s; it is checked after "
        "admission, see status.message",
    )


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (TransientError("the sandbox has no free child"), "the sandbox has no free child"),
        (RuntimeError("a bug"), "the check failed unexpectedly"),
    ],
)
def test_a_check_that_fails_allows_the_job_with_a_warning(error: Exception, words: str) -> None:
    failing = JobAdmission(Failing(error))
    try:
        verdict = decide(failing, review("CREATE", example("bell.yaml")))
    finally:
        failing.close()
    assert verdict.allowed
    (warning,) = verdict.warnings
    assert words in warning and "not checked at admission" in warning


# The route


@pytest.fixture(scope="module")
def client(admission: JobAdmission) -> Any:
    app = flask.Flask("admission")
    api = AdmissionApi(admission)
    route = api.routes()[("POST", "/admission")]
    app.add_url_rule("/admission", view_func=lambda: route(flask.request), methods=["POST"])
    return app.test_client()


def test_the_route_answers_a_review_with_a_review(client: Any) -> None:
    response = client.post("/admission?timeout=10s", json=review("CREATE", example("broken.yaml")))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    answer = response.get_json()
    assert answer["response"]["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002"
    assert answer["response"]["allowed"] is False
    assert answer["response"]["status"]["message"] == SYNTAX_ERROR


def test_each_answered_review_is_counted_by_verdict(client: Any) -> None:
    def counted(allowed: str) -> float:
        return (
            metrics.REGISTRY.get_sample_value("qop_admission_reviews_total", {"allowed": allowed})
            or 0.0
        )

    before = counted("true"), counted("false")
    client.post("/admission?timeout=10s", json=review("CREATE", example("broken.yaml")))
    client.post("/admission?timeout=10s", json=review("CREATE", example("bell.yaml")))
    client.post("/admission", data=b"{")  # not a review: not counted
    assert (counted("true"), counted("false")) == (before[0] + 1, before[1] + 1)


@pytest.mark.parametrize("body", [b"", b"{", b'{"apiVersion": "v1"}'])
def test_the_route_answers_a_malformed_review_with_a_json_400(client: Any, body: bytes) -> None:
    response = client.post("/admission", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("not an admission.k8s.io/v1 AdmissionReview")


def test_the_route_refuses_a_body_over_the_limit_with_a_json_413(client: Any) -> None:
    response = client.post("/admission", data=b" " * ((8 << 20) + 1))
    assert response.status_code == 413
    assert "over" in response.get_json()["error"]
