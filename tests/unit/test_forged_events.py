"""Forged or stale replies change nothing in reconcile; the real ones after them still work."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from qiskit_operator.errors import UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.models import ObjectMeta, Phase, QiskitJob
from qiskit_operator.models.spec import CircuitSpec, JobSpec, OutputSpec
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from qiskit_operator.status.writer import OwnedConfigMap
from tests.conftest import Counted, claimed_completion
from tests.fake_apiserver import FakeCluster

NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
REF = payloads.JobRef(namespace="team-a", name="bell", uid="uid-a", generation=1)
OUTPUT = payloads.OutputRequest(type="configmap", format="json")
SUMMARY = payloads.CircuitSummary(
    hash="h", qubits=2, clbits=2, depth=2, size=2, gate_types={}, two_qubit_gates=1, parameters=[]
)


def job(
    name: str = "bell", namespace: str = "team-a", uid: str = "uid-a", **output: str
) -> QiskitJob:
    return QiskitJob(
        metadata=ObjectMeta(name=name, namespace=namespace, uid=uid, generation=1),
        spec=JobSpec(
            circuit=CircuitSpec(code="OPENQASM 2.0;"), output=OutputSpec(type="configmap", **output)
        ),
    )


def event(payload: payloads.Reply) -> Envelope:
    return Envelope(
        type=payloads.TYPE_OF[type(payload)], source="/forger", data=payloads.encode(payload)
    )


def validated(ref: payloads.JobRef = REF) -> Envelope:
    return event(
        payloads.JobValidated(
            job=ref,
            circuit_qpy="",
            format="qasm2",
            metadata=SUMMARY,
            backend="aer_simulator",
            execution=payloads.ExecutionRequest(shots=1, optimization_level=1, seed=1),
            estimated_cost=None,
            validation_seconds=0.0,
        )
    )


def completed(ref: payloads.JobRef, location: str | None) -> Envelope:
    return event(claimed_completion(ref, location, OUTPUT))


def rejected(ref: payloads.JobRef) -> Envelope:
    return event(payloads.JobRejected(job=ref, reason="Forged", message="the forger's words"))


class World:
    """Two tenants' jobs, one scheduled in each, with their result files written."""

    def __init__(self, tmp_path: Path) -> None:
        self.store = FakeCluster()
        self.results = ResultStore(tmp_path)
        self.reconciler = Reconciler(self.store, self.results, clock=lambda: NOW)
        self.store.add(job())
        self.store.add(job(namespace="team-b", uid="uid-b"))
        self.victim = payloads.JobRef(namespace="team-b", name="bell", uid="uid-b", generation=1)
        self.store.put_configmap("team-b", "bell-results", "uid-b", {"x": "b's"})
        for ref in (REF, self.victim):
            self.reconciler.handle(validated(ref))
        self.location = self.results.put(REF, OUTPUT, b'{"counts": {"00": 1}}')

    def snapshot(self) -> object:
        jobs = [self.store.get(key) for key in ("team-a/bell", "team-b/bell")]
        return (
            [j.status.model_dump() if j and j.status else None for j in jobs],
            dict(self.store.configmaps),
            list(self.store.events),
        )

    def phase(self, key: str = "team-a/bell") -> Phase | None:
        found = self.store.get(key)
        return found.status.phase if found and found.status else None


def refused(world: World, envelope: Envelope, reason: str) -> None:
    before = world.snapshot()
    counted = Counted("qop_event_claims_total", verdict="refused", reason=reason)
    with counted, pytest.raises(UserError) as raised:
        world.reconciler.handle(envelope)
    assert raised.value.reason == "EventRefused"
    assert world.snapshot() == before
    assert counted.by == 1


def test_a_forged_rejection_with_the_wrong_uid_changes_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    refused(
        world,
        rejected(payloads.JobRef(namespace="team-a", name="bell", uid="x", generation=1)),
        "uid_mismatch",
    )


def test_a_forged_rejection_with_an_empty_uid_changes_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    refused(
        world,
        rejected(payloads.JobRef(namespace="team-a", name="bell", uid="", generation=1)),
        "uid_missing",
    )


def test_a_rejection_of_a_validated_job_changes_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    assert world.phase() is Phase.SCHEDULED
    refused(world, rejected(REF), "phase")


def test_a_newer_generation_is_refused_and_later_real_events_still_work(tmp_path: Path) -> None:
    world = World(tmp_path)
    newer = payloads.JobRef(namespace="team-a", name="bell", uid="uid-a", generation=7)
    refused(world, rejected(newer), "generation_newer")
    refused(world, completed(newer, world.location), "generation_newer")
    world.reconciler.handle(completed(REF, world.location))
    assert world.phase() is Phase.COMPLETED
    assert world.store.configmaps[("team-a", "bell-results")] == OwnedConfigMap(
        "uid-a", {"result.json": '{"counts": {"00": 1}}'}
    )


def test_an_event_about_an_older_generation_changes_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    older = payloads.JobRef(namespace="team-a", name="bell", uid="uid-a", generation=0)
    before = world.snapshot()
    assert world.reconciler.handle(completed(older, world.location)) is None
    assert world.snapshot() == before


def test_a_forged_completion_cannot_write_another_namespaces_configmap(tmp_path: Path) -> None:
    world = World(tmp_path)
    # A made-up uid in the victim's namespace, and the victim's own uid with a result
    # file of the forger's: neither writes the victim's ConfigMap.
    made_up = payloads.JobRef(namespace="team-b", name="bell", uid="made-up", generation=1)
    refused(world, completed(made_up, world.location), "uid_mismatch")
    refused(world, completed(world.victim, world.location), "results")
    assert world.store.configmaps[("team-b", "bell-results")].data == {"x": "b's"}


def test_a_completion_about_a_job_that_does_not_exist_writes_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    ghost = payloads.JobRef(namespace="team-b", name="ghost", uid="uid-g", generation=1)
    before = world.snapshot()
    assert world.reconciler.handle(completed(ghost, world.location)) is None
    assert world.snapshot() == before


def test_a_completion_after_the_job_ended_changes_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.reconciler.handle(completed(REF, world.location))
    before = world.snapshot()
    assert world.reconciler.handle(completed(REF, world.location)) is None
    assert world.reconciler.handle(rejected(REF)) is None
    assert world.snapshot() == before


def test_a_configmap_the_job_does_not_own_is_never_replaced_and_the_job_fails(
    tmp_path: Path,
) -> None:
    store = FakeCluster()
    results = ResultStore(tmp_path)
    reconciler = Reconciler(store, results, clock=lambda: NOW)
    store.add(job(location="settings"))
    store.put_configmap("team-a", "settings", "", {"mode": "production"})
    reconciler.handle(validated())
    location = results.put(REF, OUTPUT, b"{}")
    finished = reconciler.handle(completed(REF, location))
    assert finished is not None and finished.type == types.JOB_FINISHED
    assert store.configmaps[("team-a", "settings")] == OwnedConfigMap("", {"mode": "production"})
    found = store.get("team-a/bell")
    assert found is not None and found.status is not None
    assert found.status.phase is Phase.FAILED
    assert "ConfigMap team-a/settings already exists and is not owned by this job" in (
        found.status.message or ""
    )
    assert [e.reason for e in store.events][-1] == "OutputTaken"
