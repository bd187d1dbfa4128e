"""The Kubernetes StatusWriter, request by request, against the faithful fake API server:
the bodies it sends, what it does when the object moves under it, and the errors it
turns into ours."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from qiskit_operator.kube.errors import APIConflictError, APIUnavailableError
from qiskit_operator.kube.status import KubeStatusWriter
from qiskit_operator.models import JobStatus, Phase
from qiskit_operator.status.writer import ConfigMapTakenError
from tests import replies
from tests.conftest import job_manifest
from tests.fake_apiserver import JOBS, FakeAPIServer

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def rig() -> tuple[FakeAPIServer, KubeStatusWriter]:
    api = FakeAPIServer(clock=lambda: NOW)
    return api, KubeStatusWriter(api.connection(), conflict_retries=3)  # type: ignore[arg-type]


def scheduled(_: JobStatus | None) -> JobStatus:
    return JobStatus(phase=Phase.SCHEDULED, observed_generation=1, message="m")


def test_an_event_names_the_job_its_uid_and_the_component_that_reports_it() -> None:
    api, writer = rig()
    ref = replies.ref_of(api.apply(job_manifest()))
    writer.record_event(ref, "Warning", "Retrying", "x" * 2000)
    (event,) = api.of("events")
    assert event["metadata"]["name"].startswith("bell.")
    assert len(event["metadata"]["name"]) == len("bell.") + 12
    assert event["involvedObject"] == {
        "apiVersion": "quantum.io/v1",
        "kind": "QiskitJob",
        "name": "bell",
        "namespace": "default",
        "uid": ref.uid,
    }
    assert (event["type"], event["reason"], event["message"]) == ("Warning", "Retrying", "x" * 1024)
    assert (event["count"], event["source"]) == (1, {"component": "qiskit-reconcile"})
    assert event["reportingComponent"] == "qiskit-reconcile"
    assert event["apiVersion"] == "v1" and event["kind"] == "Event"
    assert event["firstTimestamp"] == event["lastTimestamp"]
    assert event["firstTimestamp"].endswith("Z")


def test_an_event_for_a_namespace_going_away_is_dropped_and_a_500_is_not() -> None:
    api, writer = rig()
    ref = replies.ref_of(api.apply(job_manifest()))
    api.objects.clear()
    writer.record_event(ref, "Normal", "Completed", "done")  # the fake has the namespace
    api.fail("create_event", "unavailable")
    with pytest.raises(APIUnavailableError, match="recording an event for default/bell"):
        writer.record_event(ref, "Normal", "Completed", "done")


def test_a_results_configmap_is_created_owned_by_its_job_as_controller() -> None:
    api, writer = rig()
    ref = replies.ref_of(api.apply(job_manifest()))
    assert writer.write_configmap(ref, "bell-results", {"result.json": "{}"})
    made = api.get("configmaps", "default", "bell-results")
    assert made is not None
    assert made["apiVersion"] == "v1" and made["kind"] == "ConfigMap"
    assert made["metadata"]["labels"] == {"quantum.io/job": "bell"}
    assert made["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "quantum.io/v1",
            "kind": "QiskitJob",
            "name": "bell",
            "uid": ref.uid,
            "controller": True,
        }
    ]
    assert made["data"] == {"result.json": "{}"}


def test_a_configmap_anything_else_owns_or_a_ref_without_uid_is_never_replaced() -> None:
    api, writer = rig()
    ref = replies.ref_of(api.apply(job_manifest()))
    api.create("configmaps", "default", {"metadata": {"name": "mine"}, "data": {}}, "kubectl")
    with pytest.raises(ConfigMapTakenError):
        writer.write_configmap(ref, "mine", {"a": "b"})
    writer.write_configmap(ref, "bell-results", {"a": "b"})
    nameless = replies.ref_of(api.apply(job_manifest()))
    with pytest.raises(ConfigMapTakenError):
        writer.write_configmap(
            type(nameless)(namespace="default", name="bell", uid="", generation=1),
            "bell-results",
            {"a": "c"},
        )
    assert api.get("configmaps", "default", "mine") is not None
    held = api.get("configmaps", "default", "bell-results")
    assert held is not None and held["data"] == {"a": "b"}


def test_a_configmap_deleted_while_it_is_replaced_is_created_again() -> None:
    api, writer = rig()
    ref = replies.ref_of(api.apply(job_manifest()))
    writer.write_configmap(ref, "bell-results", {"v": "1"})
    api.before("patch_configmaps", lambda: api.delete("configmaps", "default", "bell-results"))
    assert writer.write_configmap(ref, "bell-results", {"v": "2"})
    held = api.get("configmaps", "default", "bell-results")
    assert held is not None and held["data"] == {"v": "2"}


def test_a_configmap_changed_while_it_is_replaced_is_replaced_on_what_is_there_now() -> None:
    api, writer = rig()
    ref = replies.ref_of(api.apply(job_manifest()))
    writer.write_configmap(ref, "bell-results", {"v": "1"})

    def meanwhile() -> None:  # the read went through; someone writes before the replace
        api.before(
            "patch_configmaps", lambda: writer.write_configmap(ref, "bell-results", {"v": "x"})
        )

    api.before("patch_configmaps", meanwhile)
    assert writer.write_configmap(ref, "bell-results", {"v": "2"})
    held = api.get("configmaps", "default", "bell-results")
    assert held is not None and held["data"] == {"v": "2"}


def test_a_configmap_that_keeps_changing_is_given_up_on_as_a_conflict() -> None:
    api, writer = rig()
    ref = replies.ref_of(api.apply(job_manifest()))
    api.fail("create_configmap", "conflict", "conflict", "conflict")
    api.fail("patch_configmaps", "conflict", "conflict", "conflict")
    with pytest.raises(APIConflictError, match="configmap default/bell-results kept changing"):
        writer.write_configmap(ref, "bell-results", {"v": "1"})


def test_a_status_write_that_keeps_conflicting_is_given_up_on_saying_so() -> None:
    api, writer = rig()
    ref = replies.ref_of(api.apply(job_manifest()))
    api.fail("patch_status", "conflict", "conflict", "conflict")
    with pytest.raises(APIConflictError, match="default/bell kept changing; gave up after 3 tries"):
        writer.update(ref, scheduled)
    assert (writer.patches, writer.conflicts) == (0, 3)
    assert writer.update(ref, scheduled) == scheduled(None)
    assert (writer.patches, writer.conflicts) == (1, 3)


def test_a_write_for_a_job_gone_replaced_or_changed_is_no_write() -> None:
    api, writer = rig()
    ref = replies.ref_of(api.apply(job_manifest()))
    for other in (
        type(ref)(namespace="default", name="ghost", uid=ref.uid, generation=1),
        type(ref)(namespace="default", name="bell", uid="someone", generation=1),
        type(ref)(namespace="default", name="bell", uid="", generation=1),
        type(ref)(namespace="default", name="bell", uid=ref.uid, generation=2),
    ):
        assert writer.update(other, scheduled) is None
    assert writer.update(ref, lambda _: None) is None
    assert "patch_status" not in api.calls
    api.before("patch_status", lambda: api.delete(JOBS, "default", "bell"))
    assert writer.update(ref, scheduled) is None


def test_read_gives_the_jobs_output_and_none_for_one_that_does_not_validate() -> None:
    api, writer = rig()
    manifest = job_manifest()
    manifest["spec"]["output"] = {"type": "configmap", "format": "csv", "location": "out"}
    ref = replies.ref_of(api.apply(manifest))
    found = writer.read(ref)
    assert found is not None and found.ref == ref and found.status is None
    assert found.output is not None and (found.output.format, found.output.location) == (
        "csv",
        "out",
    )
    manifest["spec"]["output"] = {"type": "configmap", "format": "yaml"}
    api.apply(manifest)
    changed = writer.read(ref)
    assert changed is not None and changed.output is None
    assert writer.read(type(ref)(namespace="default", name="ghost", uid="", generation=1)) is None


def test_the_resync_list_has_each_job_with_its_creation_time_and_skips_unreadable_ones() -> None:
    api, writer = rig()
    first = api.apply(job_manifest(name="one"))
    second: dict[str, Any] = job_manifest(name="two")
    second["status"] = {"phase": "NoSuchPhase"}
    api.apply(second)
    (listed,) = writer.jobs()
    assert listed.ref == replies.ref_of(first)
    assert listed.created == NOW
    assert listed.status is None


def test_an_api_server_that_does_not_answer_is_a_transient_error_naming_the_call() -> None:
    api, writer = rig()
    ref = replies.ref_of(api.apply(job_manifest()))
    api.fail("get", "timeout")
    with pytest.raises(APIUnavailableError, match="reading qiskitjob default/bell"):
        writer.update(ref, scheduled)
    api.fail("patch_status", "unavailable")
    with pytest.raises(APIUnavailableError, match="patching qiskitjob default/bell/status"):
        writer.update(ref, scheduled)
    api.fail("list", "unavailable")
    with pytest.raises(APIUnavailableError, match="listing qiskitjobs"):
        writer.jobs()


def test_an_answer_older_than_the_results_there_or_of_a_deleted_job_is_dropped_saying_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="qiskit_operator.kube.status")
    api, writer = rig()
    first = replies.ref_of(api.apply(job_manifest()))
    second = replies.ref_of(api.apply(job_manifest(shots=99)))
    assert writer.write_configmap(second, "bell-results", {"g": "2"})
    assert writer.write_configmap(first, "bell-results", {"g": "1"}) is False
    api.delete(JOBS, "default", "bell")
    newer = replies.ref_of(api.apply(job_manifest()))
    api.collect_garbage()
    assert writer.write_configmap(newer, "bell-results", {"new": "1"})
    assert writer.write_configmap(second, "bell-results", {"g": "2"}) is False
    held = api.get("configmaps", "default", "bell-results")
    assert held is not None and held["data"] == {"new": "1"}
    assert [r.getMessage() for r in caplog.records] == [
        "configmap default/bell-results holds generation 2; default/bell dropped",
        f"configmap default/bell-results belongs to a newer job {newer.uid}; answer of "
        f"{second.uid} dropped",
    ]


def test_each_configmap_call_that_fails_names_itself_and_a_conflict_is_a_409() -> None:
    api, writer = rig()
    ref = replies.ref_of(api.apply(job_manifest()))
    api.fail("create_configmap", "unavailable")
    with pytest.raises(APIUnavailableError, match=r"^creating configmap default/bell-results"):
        writer.write_configmap(ref, "bell-results", {"v": "1"})
    writer.write_configmap(ref, "bell-results", {"v": "1"})
    api.fail("patch_configmaps", "unavailable")
    with pytest.raises(APIUnavailableError, match=r"^reading configmap default/bell-results"):
        writer.write_configmap(ref, "bell-results", {"v": "2"})
    api.fail("patch_configmaps", "timeout", "unavailable")
    with pytest.raises(APIUnavailableError, match=r"^reading configmap default/bell-results"):
        writer.write_configmap(ref, "bell-results", {"v": "2"})
    api.faults.clear()
    second = lambda: api.fail("patch_configmaps", "unavailable")  # noqa: E731
    api.before("patch_configmaps", lambda: api.before("patch_configmaps", second))
    with pytest.raises(APIUnavailableError, match=r"^replacing configmap default/bell-results"):
        writer.write_configmap(ref, "bell-results", {"v": "2"})
    api.faults.clear()
    api.fail("create_configmap", "conflict", "conflict", "conflict")
    api.fail("patch_configmaps", "conflict", "conflict", "conflict")
    with pytest.raises(APIConflictError) as conflict:
        writer.write_configmap(ref, "bell-results", {"v": "3"})
    assert conflict.value.status == 409


def test_a_configmap_taken_is_named_in_the_error() -> None:
    api, writer = rig()
    ref = replies.ref_of(api.apply(job_manifest()))
    api.create("configmaps", "default", {"metadata": {"name": "mine"}, "data": {}}, "kubectl")
    with pytest.raises(ConfigMapTakenError, match=r"^ConfigMap default/mine already exists"):
        writer.write_configmap(ref, "mine", {"a": "b"})
    nameless = type(ref)(namespace="default", name="bell", uid="", generation=1)
    with pytest.raises(ConfigMapTakenError, match=r"^ConfigMap default/mine already exists"):
        writer.write_configmap(nameless, "mine", {"a": "b"})


def test_a_results_configmap_its_job_wrote_before_generations_were_named_is_replaced() -> None:
    api, writer = rig()
    ref = replies.ref_of(api.apply(job_manifest()))
    owner = {"apiVersion": "quantum.io/v1", "kind": "QiskitJob", "name": "bell", "uid": ref.uid}
    for held_by in ({}, {"quantum.io/generation": "not-a-number"}):
        api.objects.pop(("configmaps", "default", "bell-results"), None)
        meta = {"name": "bell-results", "ownerReferences": [owner], "annotations": held_by}
        api.create("configmaps", "default", {"metadata": meta, "data": {"v": "old"}}, "kubectl")
        assert writer.write_configmap(ref, "bell-results", {"v": "new"})
        held = api.get("configmaps", "default", "bell-results")
        assert held is not None and held["data"] == {"v": "new"}
        assert held["metadata"]["annotations"]["quantum.io/generation"] == "1"


def test_a_write_for_a_job_that_is_gone_and_a_status_it_cannot_read_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="qiskit_operator.kube.status")
    api, writer = rig()
    ghost = type(replies.ref_of(api.apply(job_manifest())))(
        namespace="default", name="ghost", uid="g", generation=1
    )
    assert writer.update(ghost, scheduled) is None
    broken: dict[str, Any] = job_manifest(name="broken")
    broken["status"] = {"phase": "NoSuchPhase"}
    api.apply(broken)
    assert [job.ref.name for job in writer.jobs()] == ["bell"]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "qiskitjob default/ghost is gone; event dropped"
    assert messages[1].startswith("qiskitjob default/broken has a status reconcile cannot read: ")
