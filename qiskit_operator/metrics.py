"""The Prometheus metrics of the three functions, each defined once, and how they are served.

The handlers count what happens to jobs here (`validating`, `executing`,
`reconciling`, the status writers, the sandbox); `serving` counts the events
every function receives and answers, and serves `GET /metrics` where
`METRICS_ADDR` says. Under `qop serve` the gunicorn workers count into files
of one directory (prometheus-client's multiprocess mode, switched on by
`PROMETHEUS_MULTIPROC_DIR` before this module is first imported) and a scrape
adds them up; in one process (functions-framework alone, a test client) the
counts live in `REGISTRY`. docs/metrics.md says what each metric means.

Label values are bounded: functions, event types, phases, formats and reasons
come from fixed sets, never from a job or its name.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder

from qiskit_operator.errors import UserError
from qiskit_operator.events import types
from qiskit_operator.models.phases import Phase

# `_created` series exist only in one process, never in multiprocess mode: leave them
# out, so a scrape looks the same however the function is served.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry()

EVENTS_RECEIVED = Counter(
    "qop_events_received_total",
    "CloudEvents a function received, by type.",
    ["function", "type"],
    registry=REGISTRY,
)
EVENTS_REPLIED = Counter(
    "qop_events_replied_total",
    "Events a function replied with, by type.",
    ["function", "type"],
    registry=REGISTRY,
)
EVENT_ERRORS = Counter(
    "qop_event_errors_total",
    "Events answered with an error: 400 (not a CloudEvent, or a bad one), 500 (a bug), "
    "503 (infrastructure; the Broker retries).",
    ["function", "code"],
    registry=REGISTRY,
)
SENDERS_REFUSED = Counter(
    "qop_event_senders_refused_total",
    "CloudEvents refused for their sender: 401 (no token, or a bad one), 403 (a good "
    "token from a sender this function does not expect), by reason.",
    ["function", "code", "reason"],
    registry=REGISTRY,
)
REQUESTS_REFUSED = Counter(
    "qop_requests_refused_total",
    "Requests refused before a thread saw them (qop serve's intake): 400 (a Content-Length "
    "that is no number), 408 (not received whole in time), 413 (a body over the limit), "
    "503 (the worker's budget of buffered bodies is full).",
    ["function", "code"],
    registry=REGISTRY,
)
REFUSAL_CODES = ("400", "408", "413", "503")
JOBS = Counter(
    "qop_jobs_total",
    "Jobs a function decided on: validate validated|rejected, execute completed|failed.",
    ["function", "outcome"],
    registry=REGISTRY,
)
PHASE_TRANSITIONS = Counter(
    "qop_job_phase_transitions_total",
    "Status writes of reconcile that moved a job into a phase.",
    ["phase"],
    registry=REGISTRY,
)
VALIDATION_SECONDS = Histogram(
    "qop_validation_duration_seconds",
    "Time validate took to load and check one circuit, by format.",
    ["format"],
    # OpenQASM Bell ~0.4 ms, Python read without running ~0.4 ms, Python run in
    # the sandbox ~7-10 ms, up to the sandbox's 15 s wall-time limit.
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 20),
    registry=REGISTRY,
)
EXECUTION_SECONDS = Histogram(
    "qop_execution_duration_seconds",
    "Time execute's simulation took (transpiling included), by primitive.",
    ["primitive"],
    # Bell on Aer ~1 ms, a 50-point sweep ~70 ms, big states seconds to minutes, up
    # to Knative's 600 s request timeout.
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 600),
    registry=REGISTRY,
)
CIRCUIT_QUBITS = Histogram(
    "qop_circuit_qubits",
    "Qubits of the circuits of validated jobs.",
    # Fine where simulation costs change fast (20-34 qubits); QOP_MAX_QUBITS is 64.
    buckets=(1, 2, 3, 4, 5, 8, 12, 16, 20, 24, 28, 30, 32, 34, 40, 48, 64),
    registry=REGISTRY,
)
CIRCUIT_DEPTH = Histogram(
    "qop_circuit_depth",
    "Depth of the circuits of validated jobs.",
    # QOP_MAX_DEPTH is 100000.
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000),
    registry=REGISTRY,
)
SANDBOX_FAILURES = Counter(
    "qop_sandbox_failures_total",
    "Python circuit programs the sandbox refused or that failed in it, by reason.",
    ["reason"],
    registry=REGISTRY,
)
STATUS_PATCHES = Counter(
    "qop_status_patches_total",
    "Job status writes reconcile made.",
    registry=REGISTRY,
)
STATUS_CONFLICTS = Counter(
    "qop_status_conflicts_total",
    "Status writes the API server refused with 409 Conflict (decided again and retried).",
    registry=REGISTRY,
)
RESYNCS = Counter(
    "qop_resync_jobs_total",
    "Jobs reconcile's resync wrote, by action: asked_again (no event announced their"
    " generation), requeued (no answer about their run within QOP_LEASE_MINUTES) or"
    " failed_stalled (nothing moved them for QOP_STALLED_AFTER_SECONDS).",
    ["action"],
    registry=REGISTRY,
)
JOBS_EXPIRED = Counter(
    "qop_jobs_expired_total",
    "Finished jobs reconcile deleted when their time to live ran out"
    " (spec.ttlSecondsAfterFinished, output.retention or QOP_JOB_TTL_SECONDS).",
    registry=REGISTRY,
)
RESULT_UPLOADS = Counter(
    "qop_result_uploads_total",
    "Full results execute put in S3-compatible storage (docs/storage.md), by outcome: ok,"
    " refused (the job must change: no bucket, a wrong key) or unavailable (every"
    " attempt failed: the endpoint was down or busy).",
    ["outcome"],
    registry=REGISTRY,
)
RESULT_UPLOAD_RETRIES = Counter(
    "qop_result_upload_retries_total",
    "S3 requests tried again after a failure that may pass (QOP_S3_ATTEMPTS).",
    registry=REGISTRY,
)
SESSION_TURNS = Counter(
    "qop_session_turns_total",
    "QiskitSession turns reconcile decided (docs/sessions.md), by action: given (a job's"
    " turn came) or closed_out (a waiting job failed because its session closed).",
    ["action"],
    registry=REGISTRY,
)
EVENT_CLAIMS = Counter(
    "qop_event_claims_total",
    "Replies reconcile checked against their job before acting (docs/tenancy.md), by"
    " verdict (accepted, ignored, refused) and reason.",
    ["verdict", "reason"],
    registry=REGISTRY,
)
BUDGET_ADMISSIONS = Counter(
    "qop_budget_admissions_total",
    "Budgeted jobs reconcile decided on (docs/budgets.md), by verdict: admitted (its"
    " estimate reserved) or refused (over what its QiskitBudget has left, or no budget).",
    ["verdict"],
    registry=REGISTRY,
)
BUDGET_CONFLICTS = Counter(
    "qop_budget_conflicts_total",
    "QiskitBudget status writes the API server refused with 409 Conflict (decided again"
    " on the budget as it is now, and retried).",
    registry=REGISTRY,
)
ADMISSION_REVIEWS = Counter(
    "qop_admission_reviews_total",
    "AdmissionReviews validate answered at kubectl apply, by whether the job was allowed.",
    ["allowed"],
    registry=REGISTRY,
)
CACHE_HITS = Counter(
    "qop_cache_hits_total",
    "Lookups an in-memory cache answered, by cache and process (caches.py).",
    ["cache", "process"],
    registry=REGISTRY,
)
CACHE_MISSES = Counter(
    "qop_cache_misses_total",
    "Lookups an in-memory cache did not hold, so the value was built.",
    ["cache", "process"],
    registry=REGISTRY,
)
CACHE_EVICTIONS = Counter(
    "qop_cache_evictions_total",
    "Entries an in-memory cache dropped to stay within its bound.",
    ["cache", "process"],
    registry=REGISTRY,
)
CACHE_ENTRIES = Gauge(
    "qop_cache_entries",
    "Entries an in-memory cache holds now.",
    ["cache", "process"],
    registry=REGISTRY,
    # Under `qop serve` each worker holds its own caches: a scrape adds the live ones.
    multiprocess_mode="livesum",
)
# The caches there are (caches.py); each is bounded where it is made.
CACHE_NAMES = ("backends", "noise_models", "simulators", "transpiled")

# Why reconcile refuses an event's claim (status/claims.py), and why it ignores one.
CLAIM_REFUSALS = ("uid_missing", "uid_mismatch", "generation_newer", "phase", "results")
CLAIM_IGNORES = ("gone", "stale", "finished", "own")

# What the sandbox reports (sandbox/pool.py); Unavailable: no child was free in time.
SANDBOX_REASONS = (
    "SyntaxError",
    "NoCircuit",
    "MemoryLimit",
    "Forbidden",
    "ProgramError",
    "TimeLimit",
    "SandboxLimit",
    "Unavailable",
)
_EVENT_TYPES = types.APISERVER_TYPES | {
    types.JOB_VALIDATED,
    types.JOB_REJECTED,
    types.JOB_COMPLETED,
    types.JOB_FAILED,
    types.JOB_FINISHED,
    types.JOB_BUDGETED,
    types.JOB_HELD,
    types.EXECUTION_CANCEL,
}
# The series each function will count, created at zero when it starts (`expect`).
_EXPECTED: dict[str, list[tuple[Counter | Histogram, tuple[str, ...]]]] = {
    "validate": [
        *((JOBS, ("validate", outcome)) for outcome in ("validated", "rejected")),
        *((VALIDATION_SECONDS, (fmt,)) for fmt in ("python", "qasm2", "qasm3", "qpy")),
        *((SANDBOX_FAILURES, (reason,)) for reason in SANDBOX_REASONS),
        *((ADMISSION_REVIEWS, (allowed,)) for allowed in ("true", "false")),
    ],
    "execute": [
        *((JOBS, ("execute", outcome)) for outcome in ("completed", "failed")),
        *((EXECUTION_SECONDS, (primitive,)) for primitive in ("sampler", "estimator")),
        *((RESULT_UPLOADS, (outcome,)) for outcome in ("ok", "refused", "unavailable")),
    ],
    "reconcile": [
        *((PHASE_TRANSITIONS, (phase.value,)) for phase in Phase),
        *((RESYNCS, (action,)) for action in ("asked_again", "requeued", "failed_stalled")),
        *((SESSION_TURNS, (action,)) for action in ("given", "closed_out")),
        *((BUDGET_ADMISSIONS, (verdict,)) for verdict in ("admitted", "refused")),
        (EVENT_CLAIMS, ("accepted", "ok")),
        *((EVENT_CLAIMS, ("refused", reason)) for reason in CLAIM_REFUSALS),
        *((EVENT_CLAIMS, ("ignored", reason)) for reason in CLAIM_IGNORES),
    ],
}


def expect(function: str) -> None:
    """Create at zero the series `function` counts, so that its first count in a new
    pod is an increase Prometheus sees (a series born at 1 shows none)."""
    for metric, labels in _EXPECTED.get(function, []):
        metric.labels(*labels)
    for code in REFUSAL_CODES:
        REQUESTS_REFUSED.labels(function, code)


def event_type(value: str) -> str:
    """The `type` label of an event: ours and ApiServerSource's by name, others as
    `other`, so a client cannot make up series."""
    return value if value in _EVENT_TYPES else "other"


def circuit_validated(qubits: int, depth: int) -> None:
    CIRCUIT_QUBITS.observe(qubits)
    CIRCUIT_DEPTH.observe(depth)


def admission_reviewed(allowed: bool) -> None:
    """For validate's admission webhook: one AdmissionReview answered."""
    ADMISSION_REVIEWS.labels("true" if allowed else "false").inc()


def exposition(accept: str | None) -> tuple[bytes, str]:
    """What a scrape gets, in the format its Accept header asks for: the sum of every
    worker's counts under `qop serve`, this process's otherwise."""
    encode, content_type = choose_encoder(accept or "")
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return encode(REGISTRY), content_type
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return encode(registry), content_type


@dataclass(frozen=True, slots=True)
class MetricsAddress:
    """Where `GET /metrics` is served, from METRICS_ADDR: on the function's own port
    (empty), on a listener of its own (`host:port` or `:port`), or nowhere (`0`)."""

    enabled: bool = True
    host: str | None = None
    port: int | None = None

    @property
    def separate(self) -> bool:
        return self.port is not None

    @property
    def on_function_port(self) -> bool:
        return self.enabled and self.port is None

    @classmethod
    def parse(cls, value: str) -> MetricsAddress:
        value = value.strip()
        if not value:
            return cls()
        if value == "0":
            return cls(enabled=False)
        host, colon, port = value.rpartition(":")
        if not colon or not port.isdigit() or not 0 < int(port) < 65536:
            raise UserError(
                f"METRICS_ADDR {value!r} is not host:port or :port; leave it empty to serve "
                "/metrics on the function's port, or set 0 to turn metrics off",
                reason="InvalidSetting",
            )
        return cls(host=host.strip("[]") or None, port=int(port))

    def is_listener(self, server: tuple[str, int | None] | None) -> bool:
        """Whether a request arrived on the separate metrics listener: `server` is the
        WSGI server address, which gunicorn sets to the listener the request came in on."""
        return self.port is not None and server is not None and server[1] == self.port


def gunicorn_hooks(directory: str) -> dict[str, Callable[..., None]]:
    """gunicorn server hooks for multiprocess mode: forget a dead worker's live
    gauges (its counts stay: counters never go down), and remove the directory when
    the server exits."""

    def child_exit(server: object, worker: Any) -> None:
        multiprocess.mark_process_dead(worker.pid, directory)  # type: ignore[no-untyped-call]

    def on_exit(server: object) -> None:
        shutil.rmtree(directory, ignore_errors=True)

    return {"child_exit": child_exit, "on_exit": on_exit}
