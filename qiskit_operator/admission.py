"""Admission of QiskitJobs at `kubectl apply`: AdmissionReview v1 in, AdmissionReview v1 out.

The validate function serves `POST /admission` when ENABLE_WEBHOOKS is on
(functions/validate/main.py); a ValidatingWebhookConfiguration
(knative/webhook/) has the API server call it for every CREATE and UPDATE of a
QiskitJob. An inline circuit gets the pipeline's own check (`Validator.validate`:
syntax, qubit limits, backend fit, the execution spec against the circuit), so a
refusal carries the very message the job's status would. docs/admission.md
says why each choice below was made.

Admission is early feedback, never the gate: the pipeline validates every job
again. So whatever cannot be checked here in time (the budget is under the API
server's timeout), is not checked here (ConfigMap and URL sources), or fails
here, is allowed, with a warning `kubectl` prints. Only a body that is not an
AdmissionReview gets an HTTP error (a JSON 400, or 413 when too big), never a
traceback.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as CheckTimeout
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, Protocol, TypedDict

import flask
import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from qiskit_operator import metrics
from qiskit_operator.durations import parse_duration
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.events.apiserver import describe_validation_error
from qiskit_operator.models import GROUP, QiskitJob

REVIEW_API_VERSION = "admission.k8s.io/v1"
DEFAULT_TIMEOUT_SECONDS = 10.0
"""A webhook's timeoutSeconds when it names none; the API server says it in ?timeout=."""
MAX_REVIEW_BYTES = 8 << 20
"""kube-apiserver takes requests of at most 3 MiB; an UPDATE's review carries two objects."""
CHECK_THREADS = 4
"""Checks run at once per process; more wait their turn inside their own budget."""

NOT_CHECKED = {
    "configmap": "the circuit is in a ConfigMap, which may come in the same apply, so it is "
    "checked after admission; see status.message",
    "url": "the circuit is at a URL, fetched after admission rather than while the API server "
    "waits; see status.message",
}
log = logging.getLogger(__name__)


class MalformedReviewError(ValueError):
    """The body is not an AdmissionReview v1 with a request; says what is wrong."""


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class GroupVersionKind(_Wire):
    group: str = ""
    version: str = ""
    kind: str = ""


class AdmissionRequest(_Wire):
    """The parts of admission.k8s.io/v1 AdmissionRequest a decision reads."""

    uid: str = Field(min_length=1)
    kind: GroupVersionKind
    sub_resource: str | None = None
    operation: Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
    namespace: str | None = None
    name: str | None = None
    object: dict[str, Any] | None = None
    old_object: dict[str, Any] | None = None
    dry_run: bool = False


class AdmissionReview(_Wire):
    api_version: Literal["admission.k8s.io/v1"]
    kind: Literal["AdmissionReview"]
    request: AdmissionRequest


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to answer: allowed or not, why not, and warnings for kubectl to print."""

    allowed: bool
    message: str | None = None
    warnings: tuple[str, ...] = ()


ALLOWED = Verdict(allowed=True)


class ReviewStatus(TypedDict):
    code: int
    message: str
    reason: str


class ReviewResponse(TypedDict):
    uid: str
    allowed: bool
    status: NotRequired[ReviewStatus]
    warnings: NotRequired[list[str]]


class ReviewAnswer(TypedDict):
    apiVersion: str
    kind: str
    response: ReviewResponse


def read_review(body: bytes) -> AdmissionReview:
    """The AdmissionReview in `body`; MalformedReviewError names each problem."""
    try:
        return AdmissionReview.model_validate_json(body)
    except pydantic.ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}"
            for problem in error.errors()
        ]
        raise MalformedReviewError(
            f"not an {REVIEW_API_VERSION} AdmissionReview: " + "; ".join(problems)
        ) from error


def write_review(uid: str, verdict: Verdict) -> bytes:
    """The AdmissionReview that answers request `uid` with `verdict`."""
    response: ReviewResponse = {"uid": uid, "allowed": verdict.allowed}
    if not verdict.allowed:
        # 403 is what the API server assumes for a refusal; kubectl prints it as
        # "Error from server (Forbidden): ... denied the request: <message>".
        response["status"] = {
            "code": 403,
            "message": verdict.message or "refused",
            "reason": "Forbidden",
        }
    if verdict.warnings:
        response["warnings"] = list(verdict.warnings)
    answer: ReviewAnswer = {
        "apiVersion": REVIEW_API_VERSION,
        "kind": "AdmissionReview",
        "response": response,
    }
    return json.dumps(answer).encode()


def budget_seconds(timeout: str | None) -> float:
    """How long a check may take, from the API server's `timeout` parameter (e.g. 10s):
    a second of it, or a fifth when that is more, is left for the answer to travel."""
    seconds = DEFAULT_TIMEOUT_SECONDS
    if timeout:
        try:
            seconds = parse_duration(timeout, "timeout")
        except UserError:
            log.warning("admission timeout %r is not a duration; %gs assumed", timeout, seconds)
    return max(0.2, min(seconds - 1.0, seconds * 0.8))


class JobCheck(Protocol):
    """The pipeline's check of a job: Validator.validate. UserError says what to change."""

    def validate(self, job: QiskitJob) -> object: ...


class JobAdmission:
    """Decides AdmissionRequests for QiskitJobs with the pipeline's own check."""

    def __init__(self, check: JobCheck, threads: int = CHECK_THREADS) -> None:
        self._check = check
        # A check that outlives its budget keeps running here, bounded by the
        # sandbox's own time limit, while the answer has already gone.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="admission")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def decide(self, request: AdmissionRequest, budget: float) -> Verdict:
        """Allowed, or refused with the message the pipeline would write into status."""
        if (
            (request.kind.group, request.kind.kind) != (GROUP, "QiskitJob")
            or request.operation not in ("CREATE", "UPDATE")
            or request.sub_resource
            or request.object is None
        ):
            return ALLOWED
        if request.operation == "UPDATE" and _same_spec(request.old_object, request.object):
            return ALLOWED  # labels, annotations, finalizers: never refused here
        try:
            job = QiskitJob.model_validate(_named(request, request.object))
        except pydantic.ValidationError as error:
            return Verdict(allowed=False, message=describe_validation_error(error))
        if job.spec.cancel:
            return ALLOWED  # stopping a job is never refused (docs/budgets.md#cancel)
        source = job.spec.circuit.source
        if source in NOT_CHECKED:
            return Verdict(allowed=True, warnings=(f"{job.key}: {NOT_CHECKED[source]}",))
        return self._checked(job, budget)

    def _checked(self, job: QiskitJob, budget: float) -> Verdict:
        started = time.monotonic()
        future = self._pool.submit(self._check.validate, job)
        try:
            future.result(timeout=max(budget, 0.0))
        except CheckTimeout:
            future.cancel()  # not started yet: it never will be
            return Verdict(
                allowed=True,
                warnings=(
                    f"{job.key}: the circuit was not checked within {budget:.3g} s; "
                    "it is checked after admission, see status.message",
                ),
            )
        except UserError as error:
            log.info(
                "refused %s at admission (%s) after %.1f ms",
                job.key,
                error.reason,
                (time.monotonic() - started) * 1000,
            )
            return Verdict(allowed=False, message=error.message)
        except TransientError as error:
            return _unchecked(job, error.message)
        except Exception:
            # A bug, not bad input: logged with its trace; the pipeline still validates.
            log.exception("the admission check of %s failed", job.key)
            return _unchecked(job, "the check failed unexpectedly")
        return ALLOWED


def _unchecked(job: QiskitJob, why: str) -> Verdict:
    return Verdict(
        allowed=True,
        warnings=(f"{job.key}: not checked at admission ({why}); it is checked after it",),
    )


def _same_spec(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    return old is not None and old.get("spec") == new.get("spec")


def _named(request: AdmissionRequest, obj: dict[str, Any]) -> dict[str, Any]:
    """The object with the name and namespace the model needs: a CREATE with
    generateName has no name yet, and the namespace may come only in the request."""
    meta = dict(obj.get("metadata") or {})
    meta["name"] = meta.get("name") or request.name or f"{meta.get('generateName', '')}(generated)"
    meta["namespace"] = meta.get("namespace") or request.namespace or "default"
    return {**obj, "metadata": meta}


def _error(code: int, message: str) -> flask.Response:
    return flask.Response(json.dumps({"error": message}), status=code, mimetype="application/json")


class AdmissionApi:
    """`POST /admission` for the validate function's routes."""

    def __init__(self, admission: JobAdmission) -> None:
        self.admission = admission

    def routes(self) -> dict[tuple[str, str], Any]:
        return {("POST", "/admission"): self.admit}

    def admit(self, request: flask.Request) -> flask.Response:
        started = time.monotonic()
        budget = budget_seconds(request.args.get("timeout"))
        body = request.stream.read(MAX_REVIEW_BYTES + 1)
        if len(body) > MAX_REVIEW_BYTES:
            return _error(413, f"the AdmissionReview is over {MAX_REVIEW_BYTES} bytes")
        try:
            review = read_review(body)
        except MalformedReviewError as error:
            return _error(400, str(error))
        try:
            verdict = self.admission.decide(review.request, budget - (time.monotonic() - started))
        except Exception:
            log.exception("admission failed on request %s", review.request.uid)
            verdict = Verdict(
                allowed=True,
                warnings=("not checked at admission (it failed unexpectedly); checked after it",),
            )
        metrics.admission_reviewed(verdict.allowed)
        return flask.Response(
            write_review(review.request.uid, verdict), status=200, mimetype="application/json"
        )
