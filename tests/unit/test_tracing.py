"""Traces: W3C traceparent read and written strictly, one trace per job derived from its
uid, replies that chain to the span handling their event, and no OpenTelemetry at all
unless an exporter is configured."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qiskit_operator import logs, tracing
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.local.pipeline import admit
from qiskit_operator.tracing import TraceParent
from tests.conftest import ROOT, job_manifest

UID = "6c1f5e2a-0000-4000-8000-000000000001"
TRACE = "6c1f5e2a000040008000000000000001"
FOREIGN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def added(uid: str = UID, traceparent: str | None = None) -> Envelope:
    obj = admit(job_manifest())
    obj["metadata"]["uid"] = uid
    event = resource_event(obj, types.APISERVER_ADD)
    if traceparent is not None:
        event.extensions[types.EXT_TRACEPARENT] = traceparent
    return event


def validated(event: Envelope) -> Envelope:
    ref = payloads.JobRef(namespace="default", name="bell", uid=UID, generation=1)
    rejected = payloads.JobRejected(job=ref, reason="InvalidSpec", message="no")
    return event.reply(types.JOB_REJECTED, "/test", payloads.encode(rejected))


@pytest.mark.parametrize(
    "header",
    [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "  00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
    ],
)
def test_a_valid_traceparent_is_read_and_written_back_the_same(header: str) -> None:
    parsed = TraceParent.parse(header)
    assert parsed is not None
    assert str(parsed) == header.strip()
    assert parsed.sampled == header.strip().endswith("01")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ],
)
def test_an_invalid_traceparent_is_ignored(header: str | None) -> None:
    assert TraceParent.parse(header) is None


def test_a_later_version_with_more_fields_is_read_for_its_first_four() -> None:
    parsed = TraceParent.parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what")
    assert parsed == TraceParent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True)
    assert TraceParent.parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x") is None


def test_a_jobs_trace_id_is_its_uid_as_32_hex_digits() -> None:
    assert tracing.trace_id_for(UID) == TRACE
    assert tracing.trace_id_for(UID.upper()) == TRACE
    assert tracing.trace_id_for("") is None
    odd = tracing.trace_id_for("not-a-uuid")
    assert odd is not None and len(odd) == 32 and int(odd, 16) != 0
    zero = tracing.trace_id_for("00000000-0000-0000-0000-000000000000")
    assert zero is not None and int(zero, 16) != 0


def test_an_apiserver_event_is_traced_in_its_jobs_trace_under_the_job_span() -> None:
    trace = tracing.trace_of(added())
    assert trace.trace_id == TRACE
    assert trace.parent_id == tracing.job_span_id(TRACE, 1)
    assert trace.job is not None and trace.job.key == "default/bell"
    assert trace.link is None


def test_the_same_event_twice_gets_the_same_trace_and_two_spans() -> None:
    event = added(traceparent=FOREIGN)
    first, second = tracing.trace_of(event), tracing.trace_of(event)
    assert first.trace_id == second.trace_id == TRACE
    assert first.span_id != second.span_id
    assert first.parent_id == second.parent_id


def test_a_traceparent_of_another_trace_is_kept_as_a_link_not_followed() -> None:
    trace = tracing.trace_of(added(traceparent=FOREIGN))
    assert trace.trace_id == TRACE
    assert trace.link == TraceParent.parse(FOREIGN)


def test_a_traceparent_of_the_jobs_trace_is_the_parent() -> None:
    incoming = f"00-{TRACE}-1111111111111111-01"
    trace = tracing.trace_of(added(traceparent=incoming))
    assert (trace.parent_id, trace.link) == ("1111111111111111", None)


def test_an_event_without_a_job_uid_continues_the_callers_trace_or_derives_one() -> None:
    stranger = Envelope(type="com.example.ping", source="/elsewhere", id="e-1", data=b"{}")
    derived = tracing.trace_of(stranger)
    assert derived.trace_id == tracing.trace_of(stranger).trace_id
    assert derived.parent_id is None and derived.job is None
    stranger.extensions[types.EXT_TRACEPARENT] = FOREIGN
    continued = tracing.trace_of(stranger)
    assert (continued.trace_id, continued.parent_id) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
    )


def test_a_reply_names_the_span_that_handled_its_event_and_the_next_hop_chains() -> None:
    event = added(traceparent=FOREIGN)
    first = tracing.EventScope("validate", event)
    reply = first.run(validated)
    assert reply is not None
    sent = TraceParent.parse(reply.extension(types.EXT_TRACEPARENT))
    assert sent == TraceParent(TRACE, first.trace.span_id, True)
    assert reply.extension(types.EXT_JOB_UID) == UID
    assert reply.extension(types.EXT_GENERATION) == "1"
    second = tracing.EventScope("reconcile", reply)
    assert second.trace.trace_id == TRACE
    assert second.trace.parent_id == first.trace.span_id
    assert first.outcome == "job.rejected"


def test_a_handler_that_raises_still_raises_and_its_outcome_says_so() -> None:
    def broken(event: Envelope) -> Envelope | None:
        raise KeyError("metadata")

    scope = tracing.EventScope("validate", added())
    with pytest.raises(KeyError):
        scope.run(broken)
    assert scope.outcome == "KeyError" and isinstance(scope.error, KeyError)


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    logs.configure("DEBUG", "json", stream=buffer)
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_every_line_logged_while_handling_carries_the_job_event_and_trace(
    json_logs: io.StringIO,
) -> None:
    def handle(event: Envelope) -> Envelope | None:
        logging.getLogger("qiskit_operator.status.writer").info("written")
        return None

    event = added(traceparent=FOREIGN)
    with tracing.handling("reconcile", event) as scope:
        scope.run(handle)
    written, handled = (json.loads(line) for line in json_logs.getvalue().splitlines())
    for line in (written, handled):
        assert line["trace_id"] == TRACE
        assert line["span_id"] == scope.trace.span_id
        assert line["function"] == "reconcile"
        assert (line["job"], line["uid"]) == ("default/bell", UID)
        assert (line["event_id"], line["event_type"]) == (event.id, types.APISERVER_ADD)
        assert line["parent_trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert handled["outcome"] == "no reply"


@pytest.mark.parametrize(
    ("env", "exporters"),
    [
        ({}, ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "console"}, ("console",)),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ("otlp", "console")),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, ()),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, ()),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, ()),
    ],
)
def test_spans_are_exported_only_when_the_environment_names_an_exporter(
    env: dict[str, str], exporters: tuple[str, ...]
) -> None:
    assert tracing.exporters_from(env) == exporters


def test_console_spans_are_one_json_line_each_on_stderr_with_the_chosen_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert tracing.configure({"OTEL_TRACES_EXPORTER": "console"})
    try:
        with tracing.handling("validate", added(traceparent=FOREIGN)) as scope:
            scope.run(validated)
        tracing.flush()
    finally:
        tracing.configure({})
    out, err = capsys.readouterr()
    assert out == ""
    (span,) = (json.loads(line) for line in err.splitlines())
    assert span["name"] == "validate job.added"
    assert span["context"]["trace_id"] == f"0x{TRACE}"
    assert span["context"]["span_id"] == f"0x{scope.trace.span_id}"
    assert span["parent_id"] == f"0x{tracing.job_span_id(TRACE, 1)}"
    assert span["links"][0]["context"]["trace_id"] == "0x4bf92f3577b34da6a3ce929d0e0e4736"
    assert span["attributes"]["qop.outcome"] == "job.rejected"
    assert span["attributes"]["qop.job.uid"] == UID


def test_without_an_exporter_handling_events_never_imports_opentelemetry(tmp_path: Path) -> None:
    # The reconcile function must start fast: it handles an event through its real
    # entry point, and opentelemetry stays out of sys.modules.
    probe = (
        "import os, sys, functions_framework\n"
        "from qiskit_operator.events import types\n"
        "from qiskit_operator.events.apiserver import resource_event\n"
        "from qiskit_operator.events.http import to_binary\n"
        "from qiskit_operator.local.pipeline import admit\n"
        "from tests.conftest import job_manifest\n"
        "app = functions_framework.create_app(target='reconcile', "
        "source='functions/reconcile/main.py')\n"
        "headers, body = to_binary(resource_event(admit(job_manifest()), types.APISERVER_ADD))\n"
        "answer = app.test_client().post('/', data=body, headers=headers)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('opentelemetry'))\n"
        "print(answer.status_code, loaded)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QOP_RESULTS_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "202 []", result.stderr
