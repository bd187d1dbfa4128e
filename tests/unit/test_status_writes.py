"""Reconcile's status writes through the Kubernetes writer, against an API server that
merges as the real one does (tests/fake_apiserver.py): each write leaves exactly one
generation's run in the status, is guarded by the resourceVersion it read, and
touches only /status."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from qiskit_operator.kube.status import KubeStatusWriter, merge_patch_between
from qiskit_operator.models import Phase
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from tests import replies
from tests.conftest import job_manifest
from tests.fake_apiserver import JOBS, FakeAPIServer, ImpossibleWriteError, merge_patch

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def rig(tmp_path: Path) -> tuple[FakeAPIServer, Reconciler]:
    api = FakeAPIServer(clock=lambda: NOW)
    writer = KubeStatusWriter(api.connection())  # type: ignore[arg-type]
    return api, Reconciler(writer, ResultStore(tmp_path), clock=lambda: NOW)


def status(api: FakeAPIServer, name: str = "bell") -> dict[str, Any]:
    found = api.get(JOBS, "default", name)
    assert found is not None
    return dict(found.get("status") or {})


def edited(api: FakeAPIServer, name: str = "bell", shots: int = 20) -> dict[str, Any]:
    return api.apply(job_manifest(name=name, shots=shots))


def test_a_completed_spec_change_leaves_no_gate_or_count_of_the_first_run(
    tmp_path: Path,
) -> None:
    api, reconcile = rig(tmp_path)
    first = replies.ref_of(api.apply(job_manifest()))
    reconcile.handle(replies.envelope(replies.validated(first, {"h": 1, "cx": 1, "measure": 2})))
    reconcile.handle(replies.envelope(replies.completed(first, {"00": 5, "11": 5})))
    second = replies.ref_of(edited(api))
    # validate's and execute's answers come before reconcile's copy of the update event.
    reconcile.handle(replies.envelope(replies.validated(second, {"x": 1, "measure": 2})))
    reconcile.handle(replies.envelope(replies.completed(second, {"01": 10})))
    now = status(api)
    assert now["observedGeneration"] == 2
    assert now["circuitMetadata"]["gateTypes"] == {"x": 1, "measure": 2}
    assert now["results"]["counts"] == {"01": 10}
    assert now["results"]["outcomes"] == 1


def test_a_failed_spec_change_shows_no_metrics_of_the_run_before(tmp_path: Path) -> None:
    api, reconcile = rig(tmp_path)
    first = replies.ref_of(api.apply(job_manifest()))
    reconcile.handle(replies.envelope(replies.validated(first)))
    reconcile.handle(replies.envelope(replies.completed(first)))
    second = replies.ref_of(edited(api))
    reconcile.handle(replies.envelope(replies.failed(second)))
    now = status(api)
    assert now["phase"] == "Failed"
    for gone in ("results", "metrics", "circuitMetadata", "actualCost"):
        assert gone not in now
    assert [c["observedGeneration"] for c in now["conditions"]] == [2]


def test_the_patch_sends_a_null_for_every_nested_key_that_went_away() -> None:
    old = {"results": {"counts": {"00": 1, "11": 1}, "shots": 2}, "phase": "Completed"}
    new = {"results": {"counts": {"01": 2}, "shots": 2}}
    patch = merge_patch_between(old, new)
    assert patch == {"results": {"counts": {"00": None, "11": None, "01": 2}}, "phase": None}
    assert merge_patch(old, patch) == new


def test_the_patch_replaces_a_list_whole_and_leaves_equal_values_out() -> None:
    old = {"conditions": [{"type": "A"}, {"type": "B"}], "message": "same"}
    new = {"conditions": [{"type": "A"}], "message": "same"}
    assert merge_patch_between(old, new) == {"conditions": [{"type": "A"}]}


def test_each_status_write_names_the_resource_version_it_was_decided_on(tmp_path: Path) -> None:
    api, reconcile = rig(tmp_path)
    ref = replies.ref_of(api.apply(job_manifest()))
    seen = api.get(JOBS, "default", "bell")
    assert seen is not None
    api.fail("patch_status", "conflict")
    reconcile.handle(replies.envelope(replies.validated(ref)))
    # The conflict made it read and decide again: two reads, two patches, one write.
    assert api.calls.count("patch_status") == 2
    assert status(api)["phase"] == "Scheduled"
    after = api.get(JOBS, "default", "bell")
    assert after is not None and after["spec"] == seen["spec"]
    assert int(after["metadata"]["resourceVersion"]) > int(seen["metadata"]["resourceVersion"])


def test_a_status_patch_that_names_an_old_resource_version_is_refused_with_409() -> None:
    api = FakeAPIServer()
    obj = api.apply(job_manifest())
    stale = obj["metadata"]["resourceVersion"]
    api.patch_status(
        "default", "bell", {"status": {"phase": "Pending"}}, "application/merge-patch+json"
    )
    with pytest.raises(ApiException) as refused:
        api.patch_status(
            "default",
            "bell",
            {"metadata": {"resourceVersion": stale}, "status": {"phase": "Failed"}},
            "application/merge-patch+json",
        )
    assert refused.value.status == 409
    assert status(api) == {"phase": "Pending"}


def test_the_fake_refuses_a_status_patch_that_would_change_the_spec() -> None:
    api = FakeAPIServer()
    api.apply(job_manifest())
    with pytest.raises(ImpossibleWriteError, match="changes only status"):
        api.patch_status("default", "bell", {"spec": {}}, "application/merge-patch+json")


def test_a_write_for_an_older_generation_changes_nothing(tmp_path: Path) -> None:
    api, reconcile = rig(tmp_path)
    first = replies.ref_of(api.apply(job_manifest()))
    edited(api)
    reconcile.handle(replies.envelope(replies.completed(first)))
    assert status(api) == {}
    assert "patch_status" not in api.calls


def test_a_status_write_for_a_phase_the_job_is_in_already_is_no_write(tmp_path: Path) -> None:
    api, reconcile = rig(tmp_path)
    ref = replies.ref_of(api.apply(job_manifest()))
    reconcile.handle(replies.envelope(replies.validated(ref)))
    before = api.get(JOBS, "default", "bell")
    reconcile.handle(replies.envelope(replies.validated(ref)))
    assert api.get(JOBS, "default", "bell") == before
    assert status(api)["phase"] == Phase.SCHEDULED.value
