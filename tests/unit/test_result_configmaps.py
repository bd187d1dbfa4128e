"""Results published into a ConfigMap belong to one uid and generation: a late answer of
an older generation, or of a job deleted and created again under the same name, never
replaces the results of the job there is now, and a predecessor's ConfigMap that the
garbage collector has not removed yet delays the new job's results instead of failing
the job."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from qiskit_operator.errors import TransientError
from qiskit_operator.events import payloads
from qiskit_operator.models import Phase
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from tests import replies
from tests.conftest import job_manifest
from tests.fake_apiserver import FakeCluster

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
OUTPUT = payloads.OutputRequest(type="configmap", format="json")
CONFIGMAP = ("default", "bell-results")


def manifest(shots: int = 10) -> dict[str, Any]:
    made = job_manifest(shots=shots)
    made["spec"]["output"] = {"type": "configmap", "format": "json"}
    return made


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.cluster = FakeCluster()
        self.results = ResultStore(tmp_path)
        self.reconcile = Reconciler(self.cluster, self.results, clock=lambda: NOW)

    def apply(self, shots: int = 10) -> payloads.JobRef:
        return replies.ref_of(self.cluster.add(manifest(shots)))

    def run(self, ref: payloads.JobRef, document: bytes) -> payloads.JobCompleted:
        """Validated, and the result file written: the completion execute would send."""
        self.reconcile.handle(replies.envelope(replies.validated(ref, output=OUTPUT)))
        location = self.results.put(ref, OUTPUT, document)
        return replies.completed(ref, location=location)

    def complete(self, ref: payloads.JobRef, document: bytes) -> None:
        self.reconcile.handle(replies.envelope(self.run(ref, document)))

    def data(self) -> dict[str, str]:
        return self.cluster.configmaps[CONFIGMAP].data

    def owner(self) -> str:
        return self.cluster.configmaps[CONFIGMAP].owner_uid

    def phase(self) -> Phase | None:
        job = self.cluster.get("default/bell")
        return job.status.phase if job is not None and job.status is not None else None


def test_the_results_configmap_names_the_uid_and_generation_it_holds(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    ref = rig.apply()
    rig.complete(ref, b'{"g": 1}')
    found = rig.cluster.api.get("configmaps", *CONFIGMAP)
    assert found is not None
    assert found["metadata"]["annotations"] == {
        "quantum.io/job-uid": ref.uid,
        "quantum.io/generation": "1",
    }
    assert rig.data() == {"result.json": '{"g": 1}'} and rig.phase() is Phase.COMPLETED


def test_a_late_completion_of_an_older_generation_never_overwrites_newer_results(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    first = rig.apply()
    late = rig.run(first, b'{"g": 1}')

    def meanwhile() -> None:  # the spec changes and generation 2 completes first
        second = rig.apply(shots=20)
        rig.complete(second, b'{"g": 2}')

    rig.cluster.api.before("create_configmap", meanwhile)
    assert rig.reconcile.handle(replies.envelope(late)) is None
    assert rig.data() == {"result.json": '{"g": 2}'}
    job = rig.cluster.get("default/bell")
    assert job is not None and job.status is not None
    assert (job.status.phase, job.status.observed_generation) == (Phase.COMPLETED, 2)


def test_a_late_completion_of_a_deleted_job_never_touches_its_successors_results(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    old = rig.apply()
    late = rig.run(old, b'{"old": 1}')
    successor: list[payloads.JobRef] = []

    def meanwhile() -> None:  # deleted, collected, created again, and completed
        rig.cluster.api.delete("qiskitjobs", "default", "bell")
        rig.cluster.api.collect_garbage()
        successor.append(rig.apply())
        rig.complete(successor[0], b'{"new": 1}')

    rig.cluster.api.before("create_configmap", meanwhile)
    assert rig.reconcile.handle(replies.envelope(late)) is None
    assert rig.owner() == successor[0].uid
    assert rig.data() == {"result.json": '{"new": 1}'}
    assert rig.phase() is Phase.COMPLETED


def test_a_predecessors_configmap_not_yet_collected_delays_the_results_and_fails_nothing(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    rig.complete(rig.apply(), b'{"old": 1}')
    rig.cluster.api.delete("qiskitjobs", "default", "bell")  # the collector has not run yet
    new = rig.apply()
    completion = replies.envelope(rig.run(new, b'{"new": 1}'))
    with pytest.raises(TransientError, match="garbage collector"):
        rig.reconcile.handle(completion)
    assert rig.phase() is Phase.SCHEDULED
    rig.cluster.api.collect_garbage()
    finished = rig.reconcile.handle(completion)  # Knative delivers it again
    assert finished is not None and rig.phase() is Phase.COMPLETED
    assert (rig.owner(), rig.data()) == (new.uid, {"result.json": '{"new": 1}'})


def test_a_second_answer_of_the_same_generation_rewrites_its_own_results(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    ref = rig.apply()
    rig.cluster.writer.write_configmap(ref, "bell-results", {"result.json": "first"})
    rig.cluster.writer.write_configmap(ref, "bell-results", {"result.json": "second"})
    assert rig.data() == {"result.json": "second"}
