"""Traces: one job is one trace, from `kubectl apply` to its final phase.

ApiServerSource starts a fresh trace for every Kubernetes change, so the trace id
is not taken from the events but derived from the job's uid (a UUID is 128 bits,
the 32 hex digits of a trace id): every event about a job, from any function, in
any order or twice, lands in the same trace. Each event handled is one span; every
reply carries the W3C `traceparent` (CloudEvents distributed tracing extension)
naming that span as its parent, so the hops chain. docs/observability.md has the
rules; `serving` and the local pipeline call `handling` for every event.

OpenTelemetry spans are exported only when the environment names an exporter
(OTEL_EXPORTER_OTLP_ENDPOINT and friends); otherwise opentelemetry is never
imported, and a trace costs two ids and a context variable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import random
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from qiskit_operator import logs
from qiskit_operator.events import types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.identity import job_of
from qiskit_operator.events.payloads import JobRef

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Envelope | None]

# --- W3C trace context (version 00) ------------------------------------------------

_LOWER_HEX = re.compile(r"[0-9a-f]+")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


@dataclass(frozen=True, slots=True)
class TraceParent:
    """A W3C `traceparent`: the trace, the span that sent the event, whether sampled."""

    trace_id: str  # 32 lowercase hex digits, not all zero
    parent_id: str  # 16 lowercase hex digits, not all zero
    sampled: bool = True

    @classmethod
    def parse(cls, header: str | None) -> TraceParent | None:
        """The header's value, or None when it is absent or invalid (then it is
        ignored, as W3C says: the receiver starts or derives its own trace)."""
        value = (header or "").strip()
        if len(value) < 55 or value[2] != "-" or value[35] != "-" or value[52] != "-":
            return None
        version, trace_id, parent_id, flags = value[:2], value[3:35], value[36:52], value[53:55]
        if not all(_LOWER_HEX.fullmatch(part) for part in (version, trace_id, parent_id, flags)):
            return None
        if version == "ff" or (version == "00" and len(value) != 55):
            return None
        if len(value) > 55 and value[55] != "-":  # a later version may append fields
            return None
        if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
            return None
        return cls(trace_id, parent_id, sampled=bool(int(flags, 16) & 0x01))

    def __str__(self) -> str:
        return f"00-{self.trace_id}-{self.parent_id}-{'01' if self.sampled else '00'}"


def trace_id_for(uid: str) -> str | None:
    """The trace id of the job with this uid: the UUID's 32 hex digits (so a trace is
    found from `kubectl get qjob -o jsonpath='{.metadata.uid}'`); a uid that is not a
    UUID is hashed. None without a uid."""
    if not uid:
        return None
    try:
        trace_id = uuid.UUID(uid).hex
    except ValueError:
        trace_id = _digest(uid)[:32]
    return trace_id if trace_id != _ZERO_TRACE else _digest(uid)[:32]


def job_span_id(trace_id: str, generation: int) -> str:
    """The span id of the job itself at one generation (a spec change starts another),
    the parent of every span a Kubernetes change starts: the same for everyone who
    derives it. Reconcile exports that span when the generation ends (`end_job_span`)."""
    return _digest(f"job:{trace_id}:{max(generation, 1)}")[:16]


def new_span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- one event's trace -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventTrace:
    """Where handling one event sits in its job's trace (`trace_of`)."""

    trace_id: str
    span_id: str  # the span handling the event: new each time
    parent_id: str | None
    sampled: bool = True
    link: TraceParent | None = None  # an incoming context of another trace (Knative's)
    job: JobRef | None = None

    @property
    def traceparent(self) -> str:
        """What a reply carries: this trace, and this span as its parent."""
        return str(TraceParent(self.trace_id, self.span_id, self.sampled))


def trace_of(event: Envelope) -> EventTrace:
    """The trace an event is handled in. With a job uid: the job's trace, continuing
    the incoming span when it is of that trace, else under the job's span (and the
    incoming context, from another tracer, kept as a link). Without a uid: the
    incoming trace, or one derived from the event's source and id."""
    job = job_of(event)
    incoming = TraceParent.parse(event.extension(types.EXT_TRACEPARENT))
    trace_id = trace_id_for(job.uid) if job is not None else None
    if trace_id is None:
        if incoming is not None:
            return EventTrace(
                incoming.trace_id, new_span_id(), incoming.parent_id, incoming.sampled, None, job
            )
        trace_id = _digest(f"{event.source}\n{event.id}")[:32]
        return EventTrace(trace_id, new_span_id(), None, True, None, job)
    if incoming is not None and incoming.trace_id == trace_id:
        return EventTrace(trace_id, new_span_id(), incoming.parent_id, incoming.sampled, None, job)
    parent = job_span_id(trace_id, job.generation) if job is not None else None
    return EventTrace(trace_id, new_span_id(), parent, True, incoming, job)


_SHORT_TYPES = {
    types.APISERVER_ADD: "job.added",
    types.APISERVER_UPDATE: "job.updated",
    types.APISERVER_DELETE: "job.deleted",
}


def short_type(event_type: str) -> str:
    """`job.added`, `job.validated`, ...: event types as span names show them."""
    return _SHORT_TYPES.get(event_type) or event_type.removeprefix("io.qiskit.operator.")


class EventScope:
    """One event being handled by one function: its trace, and what came of it."""

    def __init__(self, function: str, event: Envelope) -> None:
        self.function = function
        self.event = event
        self.trace = trace_of(event)
        self.outcome = "no reply"
        self.error: BaseException | None = None

    def run(self, handle: Handler) -> Envelope | None:
        """`handle` the event; its reply, if any, stamped by `stamp`."""
        try:
            reply = handle(self.event)
        except BaseException as error:
            self.error, self.outcome = error, type(error).__name__
            raise
        if reply is None:
            return None
        self.outcome = short_type(reply.type)
        return self.stamp(reply)

    def stamp(self, reply: Envelope) -> Envelope:
        """The reply with this span as its `traceparent`, and the job's uid and
        generation when it lacks them (DESIGN.md §3: replies carry both)."""
        extensions = {**reply.extensions, types.EXT_TRACEPARENT: self.trace.traceparent}
        job = self.trace.job
        if job is not None and job.uid:
            extensions.setdefault(types.EXT_JOB_UID, job.uid)
        if job is not None and job.generation:
            extensions.setdefault(types.EXT_GENERATION, str(job.generation))
        return dataclasses.replace(reply, extensions=extensions)


@contextmanager
def handling(function: str, event: Envelope) -> Iterator[EventScope]:
    """The block in which `function` handles `event`: every line logged in it carries
    the job, event and trace; a span covers it when spans are exported."""
    scope = EventScope(function, event)
    trace = scope.trace
    started = time.perf_counter()
    with (
        logs.bound(
            **_event_fields(event, trace),
            function=function,
            span_id=trace.span_id,
            parent_trace_id=trace.link.trace_id if trace.link is not None else None,
        ),
        _span(f"{function} {short_type(event.type)}", trace, scope),
    ):
        yield scope
        if log.isEnabledFor(logging.DEBUG):
            milliseconds = (time.perf_counter() - started) * 1e3
            log.debug(
                "%s handled in %.2f ms: %s",
                short_type(event.type),
                milliseconds,
                scope.outcome,
                extra={"outcome": scope.outcome, "duration_ms": round(milliseconds, 3)},
            )


@contextmanager
def delivering(event: Envelope) -> Iterator[None]:
    """The block in which a broker delivers `event`: its retry and dead-letter lines
    carry the job, event and trace ids as the functions' lines do (no span of its own)."""
    with logs.bound(**_event_fields(event, trace_of(event))):
        yield


def _event_fields(event: Envelope, trace: EventTrace) -> dict[str, str | None]:
    """The log fields that name an event, its job and its trace."""
    job = trace.job
    return {
        "job": job.key if job is not None else None,
        "uid": (job.uid or None) if job is not None else None,
        "event_id": event.id,
        "event_type": event.type,
        "trace_id": trace.trace_id,
    }


def traced(function: str, handle: Handler) -> Handler:
    """`handle` inside `handling`: what the in-process pipeline delivers to."""

    def handle_traced(event: Envelope) -> Envelope | None:
        with handling(function, event) as scope:
            return scope.run(handle)

    return handle_traced


@contextmanager
def job_trace(job: JobRef) -> Iterator[str]:
    """Lines logged in this block carry the job and its trace id, which it yields:
    around a whole run of the job in `qop run` (which plays kubectl and the API
    server), around reconcile's resync of one job."""
    trace_id = trace_id_for(job.uid) or _digest(job.key)[:32]
    span_id = job_span_id(trace_id, job.generation)
    with logs.bound(job=job.key, uid=job.uid or None, trace_id=trace_id, span_id=span_id):
        yield trace_id


def end_job_span(job: JobRef, started: datetime | None, phase: str, message: str) -> None:
    """Export the job's own span (`job_span_id`, named `job <namespace>/<name>`) as its
    generation reaches the final `phase`: from `started` (its status' startTime) to
    now. Reconcile calls it after the write that moved the job there, which only one
    writer wins, so a generation's span is exported once however often its final
    event comes. Nothing without an exporter or a uid."""
    tracer = _tracer()
    trace_id = trace_id_for(job.uid)
    if tracer is None or trace_id is None:
        return
    from opentelemetry import context
    from opentelemetry import trace as api

    attributes: dict[str, str | int] = {
        "qop.job": job.key,
        "qop.job.uid": job.uid,
        "qop.job.generation": job.generation,
        "qop.phase": phase,
    }
    start_ns = int(started.timestamp() * 1e9) if started is not None else None
    span_id = job_span_id(trace_id, job.generation)
    token = _chosen_ids.set((int(trace_id, 16), int(span_id, 16)))
    try:
        span = tracer.start_span(
            f"job {job.key}", context.Context(), api.SpanKind.INTERNAL, attributes,
            start_time=start_ns,
        )  # fmt: skip
    finally:
        _chosen_ids.reset(token)
    if phase == "Failed":
        span.set_status(api.Status(api.StatusCode.ERROR, message))
    span.end()


# --- OpenTelemetry, only when an exporter is configured ----------------------------

_chosen_ids: ContextVar[tuple[int, int] | None] = ContextVar("qop_chosen_ids", default=None)


@dataclass
class _Exporting:
    """The span pipeline, or none (both None) when no exporter is configured."""

    provider: TracerProvider | None = None
    tracer: Tracer | None = None


_lock = threading.Lock()
_exporting: _Exporting | None = None  # None: the environment is not read yet


def exporters_from(env: Mapping[str, str]) -> tuple[str, ...]:
    """The span exporters the environment asks for; () means no spans at all.
    OTEL_TRACES_EXPORTER (otlp, console, none; comma-separated) decides when set;
    otherwise an OTLP endpoint (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT) means otlp."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    named = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if named:
        return tuple(n for n in (p.strip() for p in named.split(",")) if n in ("otlp", "console"))
    endpoints = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    return ("otlp",) if any(env.get(name, "").strip() for name in endpoints) else ()


def configure(env: Mapping[str, str] | None = None) -> bool:
    """Export spans if `env` (default: os.environ) names an exporter; whether it does.
    Runs by itself at the first span; call it to read another environment (tests)."""
    global _exporting
    with _lock:
        if _exporting is not None and _exporting.provider is not None:
            _exporting.provider.shutdown()
        _exporting = _exporting_for(os.environ if env is None else env)
        return _exporting.tracer is not None


def flush(timeout_seconds: float = 10.0) -> None:
    """Send the spans ended so far (they also go at exit)."""
    if _exporting is not None and _exporting.provider is not None:
        _exporting.provider.force_flush(int(timeout_seconds * 1000))


def _tracer() -> Tracer | None:
    global _exporting
    if _exporting is None:  # the first event: read the environment, once
        with _lock:
            if _exporting is None:
                _exporting = _exporting_for(os.environ)
    return _exporting.tracer


def _exporting_for(env: Mapping[str, str]) -> _Exporting:
    names = exporters_from(env)
    return _start(names, env) if names else _Exporting()


def _start(names: tuple[str, ...], env: Mapping[str, str]) -> _Exporting:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class ChosenIds(IdGenerator):
        # The SDK makes its own ids; ours are chosen before the span starts (they are
        # in the logs and the reply's traceparent), so it is handed them here.
        def generate_span_id(self) -> int:
            chosen = _chosen_ids.get()
            return chosen[1] if chosen else random.getrandbits(64)

        def generate_trace_id(self) -> int:
            chosen = _chosen_ids.get()
            return chosen[0] if chosen else random.getrandbits(128)

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by the SDK; without a
    # name, a function is named as its Knative Service is (K_SERVICE), else qiskit-operator.
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        name = env.get("K_SERVICE") or "qiskit-operator"
        resource = resource.merge(Resource({"service.name": name}))
    provider = TracerProvider(resource=resource, id_generator=ChosenIds())
    if "otlp" in names:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=_endpoint(env))))
    if "console" in names:  # one line a span, on stderr: stdout is qop's output
        console = ConsoleSpanExporter(
            out=sys.stderr, formatter=lambda span: span.to_json(indent=None) + "\n"
        )
        provider.add_span_processor(BatchSpanProcessor(console))
    return _Exporting(provider, provider.get_tracer("qiskit_operator"))


def _endpoint(env: Mapping[str, str]) -> str | None:
    traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return f"{base.rstrip('/')}/v1/traces" if base else None


@contextmanager
def _span(name: str, trace: EventTrace, scope: EventScope | None) -> Iterator[None]:
    tracer = _tracer()
    if tracer is None:
        yield
        return
    from opentelemetry import context
    from opentelemetry import trace as api

    def remote(trace_id: str, span_id: str, sampled: bool) -> api.SpanContext:
        flags = api.TraceFlags(api.TraceFlags.SAMPLED if sampled else api.TraceFlags.DEFAULT)
        return api.SpanContext(int(trace_id, 16), int(span_id, 16), True, flags)

    parent = context.Context()  # none: a root span
    if trace.parent_id is not None:
        parent = api.set_span_in_context(
            api.NonRecordingSpan(remote(trace.trace_id, trace.parent_id, trace.sampled))
        )
    link = trace.link
    links = [] if link is None else [api.Link(remote(link.trace_id, link.parent_id, link.sampled))]
    attributes: dict[str, str | int] = {}
    if trace.job is not None:
        attributes.update({"qop.job": trace.job.key, "qop.job.uid": trace.job.uid})
    if scope is not None:
        attributes.update(
            {
                "qop.function": scope.function,
                "cloudevents.event_id": scope.event.id,
                "cloudevents.event_type": scope.event.type,
                "cloudevents.event_source": scope.event.source,
            }
        )
    token = _chosen_ids.set((int(trace.trace_id, 16), int(trace.span_id, 16)))
    try:
        kind = api.SpanKind.CONSUMER if scope is not None else api.SpanKind.INTERNAL
        span = tracer.start_span(
            name,
            parent,
            kind,
            attributes,
            links,
            record_exception=False,
            set_status_on_exception=False,
        )
    finally:
        _chosen_ids.reset(token)
    error: BaseException | None = None
    try:
        yield
    except BaseException as raised:
        error = raised
        raise
    finally:
        if scope is not None:
            span.set_attribute("qop.outcome", scope.outcome)
            error = scope.error or error
        if error is not None:
            summary, _ = logs.describe_exception(error)
            span.add_event(
                "exception", {"exception.type": type(error).__name__, "exception.message": summary}
            )
            span.set_status(api.Status(api.StatusCode.ERROR, summary))
        span.end()
