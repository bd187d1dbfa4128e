"""A stateful model of reconcile against a fake API server that behaves as the real one
(tests/fake_apiserver.py): Hypothesis drives random interleavings of spec edits,
deletes and re-creates under the same name, every event delivered zero, one or several
times and in any order (answers of older generations and older uids among them), a
second reconcile worker acting in the middle of a handling, restarts of reconcile, and
failures injected at every API call; after every step the status must tell the truth.

Profiles: HYPOTHESIS_PROFILE=ci (the default; well under a minute) and =long (locally,
minutes). Each bug of issue 20 is also replayed as an explicit sequence of rules below
(`test_the_model_catches_...`), each of which fails when that fix is reverted.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from qiskit_operator.errors import OperatorError, UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.models import Phase
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from tests import replies
from tests.conftest import job_manifest
from tests.fake_apiserver import JOBS, FakeAPIServer, FakeCluster

START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
OUTPUT = payloads.OutputRequest(type="configmap", format="json")
RESULTS = "bell-results"
FOREIGN = {"mode": "production"}  # a ConfigMap no job owns: never touched
VERBS = ["get", "patch_status", "create_event", "create_configmap", "patch_configmaps", "list"]
WRITES = ["patch_status", "create_configmap", "patch_configmaps"]
FAULTS = ["conflict", "unavailable", "timeout", "lost"]

PROFILES = {
    "ci": settings(
        max_examples=100,
        stateful_step_count=30,
        deadline=None,
        report_multiple_bugs=False,  # one failure, shrunk quickly
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ),
    "long": settings(
        max_examples=1500,
        stateful_step_count=60,
        deadline=None,
        report_multiple_bugs=False,  # one failure, shrunk quickly
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ),
}
PROFILE = PROFILES[os.environ.get("HYPOTHESIS_PROFILE", "ci")]

Action = tuple[str, int]  # ("apply", shots) | ("answer", k) | ("deliver", index) | ("delete", 0)
ACTIONS = st.one_of(
    st.tuples(st.just("apply"), st.integers(1, 3)),
    st.tuples(st.just("answer"), st.integers(0, 6)),
    st.tuples(st.just("deliver"), st.integers(0, 400)),
    st.tuples(st.just("delete"), st.just(0)),
    st.tuples(st.just("gc"), st.just(0)),
)


def tag(ref: payloads.JobRef) -> str:
    """What marks every field one run writes, so a field of another run shows."""
    return f"{ref.uid}/g{ref.generation}"


def counts_of(ref: payloads.JobRef) -> dict[str, int]:
    return {f"{tag(ref)}/a": 3, f"{tag(ref)}/b": 1}


def manifest(shots: int) -> dict[str, Any]:
    made = job_manifest(shots=shots)
    made["spec"]["output"] = {"type": "configmap", "format": "json"}
    return made


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class StatusModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="qop-status-model-"))
        self.clock = Clock()
        self.api = FakeAPIServer(clock=self.clock)
        self.cluster = FakeCluster(self.api)
        self.results = ResultStore(self.folder)
        self.reconcile = self.restarted()
        self.cluster.put_configmap("default", "settings", "", FOREIGN)
        self.pool: list[Envelope] = []  # every event ever sent: any may come (again)
        self.known: set[tuple[str, int]] = set()
        self.answers: dict[tuple[str, int], list[Envelope]] = {}  # each run's, in pool order
        self.unsettled: dict[str, Envelope] = {}  # handlings that failed: Knative redelivers
        self.sent_retries: set[tuple[str, int, int]] = set()  # (uid, generation, attempt)
        self.highest: dict[tuple[str, int], Phase] = {}  # furthest phase of each run
        self.drop_reply = False

    def restarted(self) -> Reconciler:
        return Reconciler(
            self.cluster,
            self.results,
            clock=self.clock,
            resync_after=timedelta(seconds=60),
            stalled_after=timedelta(hours=1),
            lease=timedelta(minutes=10),
        )

    # -- the world --------------------------------------------------------------------

    def job(self) -> dict[str, Any] | None:
        return self.api.get(JOBS, "default", "bell")

    def answers_for(self, ref: payloads.JobRef) -> None:
        """What validate and execute may ever answer about this run (execute writes the
        result file first), all of it deliverable from now on."""
        key = (ref.uid, ref.generation)
        if key in self.known:
            return
        self.known.add(key)
        document = json.dumps({"uid": ref.uid, "generation": ref.generation}).encode()
        location = self.results.put(ref, OUTPUT, document)
        work = replies.validated(ref, {tag(ref): 1}, output=OUTPUT, seconds=ref.generation / 8)
        done = replies.completed(ref, counts_of(ref), location=location, seconds=ref.generation / 4)
        answers = [replies.envelope(work), replies.envelope(done)]
        answers.append(replies.envelope(replies.failed(ref)))
        for attempt in range(4):
            failure = payloads.JobFailed(
                job=ref,
                reason="TransientFailure",
                message="worker died",
                kind="transient",
                work=msgspec.structs.replace(
                    work,
                    execution=msgspec.structs.replace(work.execution, attempt=attempt),
                ),
            )
            answers.append(replies.envelope(failure))
        self.answers[key] = answers
        self.pool += answers

    def handle(self, envelope: Envelope) -> None:
        """One delivery, and at once a second one if it failed, as the Trigger's retry
        does; what still failed waits for `redeliver`."""
        self.handle_once(envelope)
        if envelope.id in self.unsettled:
            self.handle_once(envelope)

    def handle_once(self, envelope: Envelope) -> None:
        """One delivery. Our error model's failures make Knative deliver it again; any
        other exception is a bug and fails the test."""
        try:
            reply = self.reconcile.handle(envelope)
        except UserError:
            self.unsettled.pop(envelope.id, None)  # refused: answered 4xx, not redelivered
            return
        except OperatorError:
            self.unsettled[envelope.id] = envelope
            return
        if self.drop_reply:  # the reply never reached the Broker: Knative redelivers
            self.drop_reply = False
            self.unsettled[envelope.id] = envelope
            return
        self.unsettled.pop(envelope.id, None)
        if reply is not None and reply.type == types.JOB_VALIDATED:
            again = payloads.decode(reply.type, reply.data)
            assert isinstance(again, payloads.JobValidated)
            ref = again.job
            self.sent_retries.add((ref.uid, ref.generation, again.execution.attempt))
            self.pool.append(replies.envelope(again))  # the Broker brings it back too

    def act(self, action: Action) -> None:
        kind, value = action
        if kind == "apply":
            self.apply(value)
        elif kind == "answer":
            self.answer(value)
        elif kind == "deliver":
            self.deliver(value)
        elif kind == "delete":
            self.delete()
        else:
            self.api.collect_garbage()

    # -- rules ------------------------------------------------------------------------

    @initialize()
    def create(self) -> None:
        self.apply(1)

    @rule(shots=st.integers(1, 3))
    def apply(self, shots: int) -> None:
        existed = self.job() is not None
        obj = self.cluster.add(manifest(shots))
        self.answers_for(replies.ref_of(obj))
        kind = types.APISERVER_UPDATE if existed else types.APISERVER_ADD
        self.pool.append(resource_event(obj, kind))

    @rule()
    def delete(self) -> None:
        obj = self.job()
        if obj is not None:
            self.api.delete(JOBS, "default", "bell")
            self.pool.append(resource_event(obj, types.APISERVER_DELETE))

    @rule()
    def collect_garbage(self) -> None:
        self.api.collect_garbage()

    @precondition(lambda self: self.pool)
    @rule(index=st.integers(0, 400))
    def deliver(self, index: int) -> None:
        if self.pool:  # (a `meanwhile` may come before any event)
            self.handle(self.pool[index % len(self.pool)])

    @rule(answer=st.integers(0, 6))
    def answer(self, answer: int) -> None:
        """An answer about the job's current run (validated, completed, failed, or a
        transient failure of attempt 0..3): what comes most."""
        obj = self.job()
        if obj is not None:
            ref = replies.ref_of(obj)
            self.handle(self.answers[(ref.uid, ref.generation)][answer])

    @precondition(lambda self: self.unsettled)
    @rule()
    def redeliver(self) -> None:
        for envelope in list(self.unsettled.values())[:1]:
            self.handle(envelope)

    @precondition(lambda self: sum(len(f) for f in self.api.faults.values()) < 3)
    @rule(verb=st.sampled_from(VERBS), fault=st.sampled_from(FAULTS))
    def fail_next(self, verb: str, fault: str) -> None:
        self.api.fail(verb, fault)  # type: ignore[arg-type]

    @rule()
    def lose_next_reply(self) -> None:
        self.drop_reply = True

    @precondition(lambda self: not any(self.api.hooks.values()))
    @rule(verb=st.sampled_from(WRITES), actions=st.lists(ACTIONS, min_size=1, max_size=3))
    def meanwhile(self, verb: str, actions: list[Action]) -> None:
        """Just before reconcile's next `verb`, another writer (a user, a second reconcile
        worker) does `actions`."""
        self.api.before(verb, lambda: [self.act(action) for action in actions])

    @rule()
    def restart(self) -> None:
        self.reconcile = self.restarted()

    @rule(minutes=st.sampled_from([1, 11, 61]))
    def ping(self, minutes: int) -> None:
        self.clock.now += timedelta(minutes=minutes)
        try:
            self.reconcile.resync()
        except UserError:
            raise
        except OperatorError:
            pass  # the next ping tries again

    # -- what must hold after every step ----------------------------------------------

    def status(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        obj = self.job()
        if obj is None:
            return None
        return obj, dict(obj.get("status") or {})

    @invariant()
    def a_phase_never_goes_backwards_within_a_generation(self) -> None:
        found = self.status()
        if found is None:
            return
        obj, status = found
        generation, phase = status.get("observedGeneration"), status.get("phase")
        if generation is None or phase is None:
            return
        key, now = (obj["metadata"]["uid"], generation), Phase(phase)
        before = self.highest.get(key)
        if before is not None:
            assert now.rank >= before.rank, f"{key}: {before.value} went back to {now.value}"
            assert not before.is_terminal or now is before, f"{key}: {before} became {now}"
        self.highest[key] = now

    @invariant()
    def the_status_holds_one_run_only(self) -> None:
        found = self.status()
        if found is None or found[1].get("observedGeneration") is None:
            return
        obj, status = found
        generation = status["observedGeneration"]
        ref = payloads.JobRef(
            namespace="default", name="bell", uid=obj["metadata"]["uid"], generation=generation
        )
        for condition in status.get("conditions", []):
            assert condition["observedGeneration"] == generation, status
        gates = (status.get("circuitMetadata") or {}).get("gateTypes") or {}
        assert set(gates) <= {tag(ref)}, f"gate types of another run: {gates}"
        counts = (status.get("results") or {}).get("counts") or {}
        assert set(counts) <= set(counts_of(ref)), f"counts of another run: {counts}"
        measured = status.get("metrics") or {}
        assert measured.get("validationSeconds") in (None, generation / 8), measured
        assert measured.get("executionSeconds") in (None, generation / 4), measured

    @invariant()
    def a_completed_status_is_its_generations_one_result(self) -> None:
        """Its counts, and the ConfigMap it points at holds its generation's document.

        Results and status are two objects, written one after the other: while a handling
        that failed between them waits for its redelivery, or once the spec has changed
        (the status is then about to be replaced by the new generation's), they may differ.
        """
        found = self.status()
        if found is None or found[1].get("phase") != Phase.COMPLETED.value:
            return
        obj, status = found
        if self.unsettled or obj["metadata"]["generation"] != status["observedGeneration"]:
            assert status["results"]["counts"] == counts_of(
                msgspec.structs.replace(
                    replies.ref_of(obj), generation=status["observedGeneration"]
                )
            )
            return
        ref = replies.ref_of(obj)
        ref = msgspec.structs.replace(ref, generation=status["observedGeneration"])
        assert status["results"]["counts"] == counts_of(ref)
        assert status["results"]["location"] == f"configmap://default/{RESULTS}"
        held = self.api.get("configmaps", "default", RESULTS)
        assert held is not None, "Completed, and its results ConfigMap is gone"
        document = json.loads(held["data"]["result.json"])
        assert document == {"uid": ref.uid, "generation": ref.generation}, document

    @invariant()
    def results_are_the_jobs_and_nothing_else_was_touched(self) -> None:
        foreign = self.api.get("configmaps", "default", "settings")
        assert foreign is not None and foreign["data"] == FOREIGN
        held = self.api.get("configmaps", "default", RESULTS)
        if held is not None:
            document = json.loads(held["data"]["result.json"])
            meta = held["metadata"]
            assert meta["ownerReferences"][0]["uid"] == document["uid"]
            assert meta["annotations"]["quantum.io/generation"] == str(document["generation"])
        found = self.status()
        if found is not None:
            reasons = [c["reason"] for c in found[1].get("conditions", [])]
            assert "OutputTaken" not in reasons, "failed for a ConfigMap only it ever used"

    @invariant()
    def a_retry_the_status_counts_was_sent(self) -> None:
        found = self.status()
        if found is None or self.unsettled:
            return  # a handling is still to be delivered again
        obj, status = found
        if status.get("phase") != Phase.RETRYING.value:
            return
        if status["observedGeneration"] != obj["metadata"]["generation"]:
            # A newer spec supersedes that run: its retry is rightly never resent once
            # the reply was lost; the new generation runs instead (teardown checks it ends).
            return
        key = (obj["metadata"]["uid"], status["observedGeneration"], status["retryCount"])
        assert key in self.sent_retries, f"Retrying {key}, and that retry was never sent"

    def teardown(self) -> None:
        """Faults stop, what failed is delivered again, and the resync runs: every job
        ends in a final phase."""
        try:
            self.api.faults.clear()
            self.api.hooks.clear()
            self.drop_reply = False
            for envelope in list(self.unsettled.values()):
                self.handle(envelope)
            for _ in range(4):
                self.clock.now += timedelta(minutes=70)
                self.reconcile.resync()
                obj = self.job()
                if obj is not None:  # the event source sends what the resync wrote
                    self.handle(resource_event(obj, types.APISERVER_UPDATE))
            found = self.status()
            if found is not None:
                assert Phase(found[1]["phase"]).is_terminal, found[1]
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


StatusModel.TestCase.settings = PROFILE
# Passing, the ci profile takes seconds; a failure's shrinking may take minutes.
TestStatusModel = pytest.mark.timeout(900)(StatusModel.TestCase)


class Replay:
    """Rules run in a fixed order, every invariant checked after each, as Hypothesis does:
    each bug of issue 20 as a sequence of the model's own rules."""

    def __init__(self) -> None:
        self.machine = StatusModel()

    def __getattr__(self, name: str) -> Callable[..., None]:
        rule_ = getattr(self.machine, name)

        def step(*args: Any, **kwargs: Any) -> None:
            try:
                rule_(*args, **kwargs)
                self.check()
            except BaseException:
                shutil.rmtree(self.machine.folder, ignore_errors=True)
                raise

        return step

    def check(self) -> None:
        machine = self.machine
        machine.a_phase_never_goes_backwards_within_a_generation()
        machine.the_status_holds_one_run_only()
        machine.a_completed_status_is_its_generations_one_result()
        machine.results_are_the_jobs_and_nothing_else_was_touched()
        machine.a_retry_the_status_counts_was_sent()

    def index(
        self, event_type: str, generation: int, job: int = 0, attempt: int | None = None
    ) -> int:
        """Where in the pool the event of `event_type` about that run is (`job`: the
        first, second, ... object of the name; `attempt`: a transient failure's)."""
        uids = list(dict.fromkeys(uid for uid, _ in sorted(self.machine.known)))
        for index, envelope in enumerate(self.machine.pool):
            data = json.loads(envelope.data)
            about = data.get("job") or data.get("metadata") or {}
            work = data.get("work")
            if (
                envelope.type == event_type
                and about.get("uid") == uids[job]
                and about.get("generation") == generation
                and (work["execution"]["attempt"] if work else None) == attempt
            ):
                return index
        raise AssertionError(f"no {event_type} about generation {generation} of job {job}")

    def end(self) -> None:
        self.machine.teardown()


def test_the_model_catches_a_status_that_mixes_two_runs() -> None:
    run = Replay()
    run.apply(shots=1)
    run.deliver(index=run.index(types.JOB_VALIDATED, 1))
    run.deliver(index=run.index(types.JOB_COMPLETED, 1))
    run.apply(shots=2)
    # validate's answer for generation 2 comes before reconcile's copy of the update.
    run.deliver(index=run.index(types.JOB_VALIDATED, 2))
    run.deliver(index=run.index(types.JOB_COMPLETED, 2))
    run.end()


def test_the_model_catches_a_retry_lost_after_its_status_was_written() -> None:
    run = Replay()
    run.apply(shots=1)
    run.deliver(index=run.index(types.JOB_VALIDATED, 1))
    run.fail_next(verb="create_event", fault="unavailable")
    run.deliver(index=run.index(types.JOB_FAILED, 1, attempt=0))
    run.redeliver()
    run.lose_next_reply()
    run.deliver(index=run.index(types.JOB_FAILED, 1, attempt=1))
    run.redeliver()
    run.end()


def test_the_model_catches_an_older_generation_overwriting_newer_results() -> None:
    run = Replay()
    run.apply(shots=1)
    run.deliver(index=run.index(types.JOB_VALIDATED, 1))
    late = run.index(types.JOB_COMPLETED, 1)
    # While reconcile publishes generation 1's answer, the spec changes and generation 2
    # completes (a second reconcile worker handles its answers).
    run.meanwhile(verb="create_configmap", actions=[("apply", 2), ("deliver", late + 8)])
    run.deliver(index=late)
    run.end()


def test_the_model_catches_a_predecessors_configmap_failing_the_new_job() -> None:
    run = Replay()
    run.apply(shots=1)
    run.deliver(index=run.index(types.JOB_COMPLETED, 1))
    run.delete()
    run.apply(shots=1)  # the same name, a new uid; the old ConfigMap is not collected yet
    run.deliver(index=run.index(types.JOB_COMPLETED, 1, job=1))
    run.collect_garbage()
    run.redeliver()
    run.end()


def test_the_model_catches_a_completed_job_sent_back_to_retrying() -> None:
    run = Replay()
    run.apply(shots=1)
    run.deliver(index=run.index(types.JOB_COMPLETED, 1))
    run.deliver(index=run.index(types.JOB_FAILED, 1, attempt=0))
    run.end()
