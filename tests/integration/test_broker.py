"""The Broker over HTTP: events in, routed by the Trigger manifests, replies routed back,
and what cannot be delivered becomes a dead letter that fails the job."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

import requests

from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import to_binary
from qiskit_operator.local.pipeline import admit
from qiskit_operator.routing.delivery import DeliveryError, InProcessSubscriber
from qiskit_operator.routing.ingress import BrokerServer
from qiskit_operator.routing.routes import Routes
from qiskit_operator.routing.triggers import DeliverySpec, load_triggers
from tests.conftest import ROOT, JsonLines, job_manifest


class Recorder:
    def __init__(self, name: str, reply: Envelope | None = None, fail: bool = False) -> None:
        self.name = name
        self.seen: list[Envelope] = []
        self.reply = reply
        self.fail = fail
        self.done = threading.Event()

    def __call__(self, event: Envelope) -> Envelope | None:
        self.seen.append(event)
        self.done.set()
        if self.fail:
            raise DeliveryError(f"{self.name} is down")
        return self.reply


def broker_with(
    validate: Recorder, execute: Recorder, reconcile: Recorder, dispatchers: int = 8
) -> BrokerServer:
    # The shipped Triggers, with retries cut to one at most, so that the tests do not wait.
    triggers = [
        replace(
            t, delivery=DeliverySpec(retry=min(t.delivery.retry, 1), backoff_delay_seconds=0.01)
        )
        for t in load_triggers(ROOT / "knative" / "triggers.yaml")
    ]
    subscribers = {
        f"qiskit-{r.name}": InProcessSubscriber(f"qiskit-{r.name}", r)
        for r in (validate, execute, reconcile)
    }
    return BrokerServer(Routes(triggers, subscribers), dispatchers=dispatchers).start()


def post(broker: BrokerServer, event: Envelope) -> int:
    headers, body = to_binary(event)
    return requests.post(broker.url, data=body, headers=headers, timeout=5).status_code


def wait_for(condition: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_an_add_event_reaches_all_three_and_the_reply_reaches_execute() -> None:
    """validate works on the add, reconcile records it, and execute wakes on it (its
    cold start overlapping validate's); the work reaches execute as validate's reply."""
    added = resource_event(admit(job_manifest(name="routed")), types.APISERVER_ADD)
    validated = added.reply(types.JOB_VALIDATED, "/validate", b"{}")
    validate, execute, reconcile = (
        Recorder("validate", validated),
        Recorder("execute"),
        Recorder("reconcile"),
    )
    broker = broker_with(validate, execute, reconcile)
    try:
        assert post(broker, added) == 202
        wait_for(lambda: len(execute.seen) == 2 and len(reconcile.seen) == 2)
        assert [e.type for e in validate.seen] == [types.APISERVER_ADD]
        assert sorted(e.type for e in execute.seen) == [types.APISERVER_ADD, types.JOB_VALIDATED]
        assert sorted(e.type for e in reconcile.seen) == [types.APISERVER_ADD, types.JOB_VALIDATED]
    finally:
        broker.stop()


def test_an_event_validate_never_takes_fails_its_job_through_a_dead_letter() -> None:
    added = resource_event(admit(job_manifest(name="stranded")), types.APISERVER_ADD)
    validate, execute, reconcile = (
        Recorder("validate", fail=True),
        Recorder("execute"),
        Recorder("reconcile"),
    )
    broker = broker_with(validate, execute, reconcile)
    try:
        assert post(broker, added) == 202
        wait_for(lambda: any(e.type == types.JOB_FAILED for e in reconcile.seen))
        letter = next(e for e in reconcile.seen if e.type == types.JOB_FAILED)
        failed = payloads.decode(letter.type, letter.data)
        assert isinstance(failed, payloads.JobFailed)
        assert failed.reason == "DeliveryFailed" and failed.job.name == "stranded"
        assert "validate is down" in failed.message
        assert len(validate.seen) == 2  # the first try and one retry
    finally:
        broker.stop()


def test_a_wake_up_execute_never_takes_fails_no_job() -> None:
    added = resource_event(admit(job_manifest(name="sleepy")), types.APISERVER_ADD)
    validate, execute, reconcile = (
        Recorder("validate"),
        Recorder("execute", fail=True),
        Recorder("reconcile"),
    )
    broker = broker_with(validate, execute, reconcile)
    try:
        assert post(broker, added) == 202
        wait_for(lambda: len(execute.seen) == 1 and len(reconcile.seen) == 1 and validate.seen)
        time.sleep(0.5)  # room for a retry or a dead letter, were there one
        assert len(execute.seen) == 1  # no retry: a late wake-up is worth nothing
        assert [e.type for e in reconcile.seen] == [types.APISERVER_ADD]  # no job.failed
    finally:
        broker.stop()


def test_what_the_broker_logs_about_an_event_carries_its_job_and_trace() -> None:
    job = admit(job_manifest(name="stranded-logged"))
    added = resource_event(job, types.APISERVER_ADD)
    validate, execute, reconcile = (
        Recorder("validate", fail=True),
        Recorder("execute"),
        Recorder("reconcile"),
    )
    lines, routing = JsonLines(), logging.getLogger("qiskit_operator.routing")
    routing.addHandler(lines)
    level = routing.level
    routing.setLevel(logging.INFO)  # setLevel, not .level: it clears the loggers' caches
    broker = broker_with(validate, execute, reconcile)
    try:
        assert post(broker, added) == 202
        wait_for(lambda: any(e.type == types.JOB_FAILED for e in reconcile.seen))
    finally:
        broker.stop()
        routing.removeHandler(lines)
        routing.setLevel(level)
    about_it = [line for line in lines.lines if line.get("event_id") == added.id]
    assert [line["level"] for line in about_it] == ["INFO", "WARNING"]  # the retry, the drop
    for line in about_it:
        assert line["job"] == "default/stranded-logged"
        assert line["trace_id"] == job["metadata"]["uid"].replace("-", "")


def test_a_reconcile_that_is_down_gets_no_dead_letter_about_itself() -> None:
    added = resource_event(admit(job_manifest(name="quiet")), types.APISERVER_ADD)
    validate, execute, reconcile = (
        Recorder("validate"),
        Recorder("execute"),
        Recorder("reconcile", fail=True),
    )
    # One dispatcher delivers one event after another: once execute has the marker, sent
    # after both tries at reconcile, the broker has decided whether to dead-letter them.
    broker = broker_with(validate, execute, reconcile, dispatchers=1)
    marker = added.reply(types.JOB_VALIDATED, "/tests", b"{}")
    try:
        assert post(broker, added) == 202
        wait_for(lambda: sum(e.id == added.id for e in reconcile.seen) == 2)
        assert post(broker, marker) == 202
        wait_for(lambda: any(e.id == marker.id for e in execute.seen))
        assert broker.dead_letters == []
    finally:
        broker.stop()


def test_a_request_that_is_not_a_cloud_event_is_refused() -> None:
    broker = broker_with(Recorder("validate"), Recorder("execute"), Recorder("reconcile"))
    try:
        answer = requests.post(
            broker.url, data=b"{}", timeout=5, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400
    finally:
        broker.stop()
