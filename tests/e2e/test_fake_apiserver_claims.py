"""The fake API server the unit tests trust (tests/fake_apiserver.py) behaves as the
real kube-apiserver on each thing it claims: every test here runs the same calls on
both, and expects the same answer from each."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.local.devcluster import DevCluster
from qiskit_operator.models import GROUP, VERSION
from tests.conftest import job_manifest
from tests.fake_apiserver import JOBS, JSON_PATCH, MERGE_PATCH, FakeAPIServer

Obj = dict[str, Any]


class Server:
    """The calls each claim needs, on the real API server or on the fake."""

    def __init__(self, custom: Any, core: Any, fake: FakeAPIServer | None) -> None:
        self.custom, self.core, self.fake = custom, core, fake

    def create_job(self, name: str) -> Obj:
        manifest = job_manifest(name=name)
        manifest["metadata"]["namespace"] = "default"
        if self.fake is not None:
            return self.fake.apply(manifest)
        made: Obj = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, "default", JOBS, manifest
        )
        return made

    def edit_spec(self, name: str, shots: int) -> Obj:
        if self.fake is not None:
            return self.fake.apply(job_manifest(name=name, shots=shots))
        patch = {"spec": {"execution": {"shots": shots}}}
        changed: Obj = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, "default", JOBS, name, patch, _content_type=MERGE_PATCH
        )
        return changed

    def get_job(self, name: str) -> Obj:
        found: Obj = self.custom.get_namespaced_custom_object(GROUP, VERSION, "default", JOBS, name)
        return found

    def patch_status(self, name: str, body: Obj) -> Obj:
        written: Obj = self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, "default", JOBS, name, body, _content_type=MERGE_PATCH
        )
        return written

    def delete_job(self, name: str) -> None:
        if self.fake is not None:
            self.fake.delete(JOBS, "default", name)
        else:
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, "default", JOBS, name)

    def create_configmap(self, name: str, owner: Obj | None) -> Obj:
        meta: Obj = {"name": name}
        if owner is not None:
            meta["ownerReferences"] = [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "QiskitJob",
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                }
            ]
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"a": "1"}}
        made = self.core.create_namespaced_config_map("default", body)
        return {"data": dict(made.data or {})}

    def patch_configmap(self, name: str, ops: list[Obj]) -> Obj:
        patched = self.core.patch_namespaced_config_map(
            name, "default", ops, _content_type=JSON_PATCH
        )
        return {"data": dict(patched.data or {})}

    def configmap_exists(self, name: str) -> bool:
        if self.fake is not None:
            self.fake.collect_garbage()  # the collector runs, some time after the delete
            return self.fake.get("configmaps", "default", name) is not None
        try:
            self.core.read_namespaced_config_map(name, "default")
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True


def refused(call: Callable[[], object]) -> int:
    """The HTTP status `call` was refused with."""
    with pytest.raises(ApiException) as error:
        call()
    return int(error.value.status)


@pytest.fixture(params=["real", "fake"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    if request.param == "fake":
        fake = FakeAPIServer()
        connection: Any = fake.connection()
        yield Server(connection.custom(), connection.core(), fake)
        return
    cluster: DevCluster = request.getfixturevalue("quiet_cluster")
    real = KubeConnection(str(cluster.kubeconfig))
    yield Server(real.custom(), real.core(), None)


def condition(type_: str) -> Obj:
    # Every field given: the CRD's defaults (message: "") would otherwise differ.
    when = "2026-01-01T00:00:00Z"
    return {
        "type": type_,
        "status": "True",
        "reason": "R",
        "message": "",
        "lastTransitionTime": when,
    }


def unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns() % 10**9}"


def test_a_status_merge_patch_merges_nested_maps_removes_nulls_and_replaces_lists(
    server: Server,
) -> None:
    name = unique("merge")
    server.create_job(name)
    first = {
        "message": "one",
        "results": {"counts": {"00": 1, "11": 1}, "shots": 2},
        "conditions": [condition("A"), condition("B")],
    }
    server.patch_status(name, {"status": first})
    second = {
        "message": None,
        "results": {"counts": {"00": None, "01": 3}},
        "conditions": [condition("B")],
    }
    written = server.patch_status(name, {"status": second})
    assert written["status"] == {
        "results": {"counts": {"11": 1, "01": 3}, "shots": 2},
        "conditions": [condition("B")],
    }
    assert server.get_job(name)["status"] == written["status"]


def test_a_status_patch_changes_nothing_outside_status(server: Server) -> None:
    name = unique("only-status")
    made = server.create_job(name)
    if server.fake is not None:
        # The real server ignores the spec here; the fake refuses, so no test relies on it.
        with pytest.raises(AssertionError, match="changes only status"):
            server.patch_status(name, {"spec": {"execution": {"shots": 3}}, "status": {}})
        return
    server.patch_status(name, {"spec": {"execution": {"shots": 3}}, "status": {"message": "m"}})
    now = server.get_job(name)
    assert now["spec"] == made["spec"]
    assert now["metadata"]["generation"] == 1
    assert now["status"] == {"message": "m"}


def test_each_write_moves_the_resource_version_and_a_write_of_nothing_does_not(
    server: Server,
) -> None:
    name = unique("versions")
    made = server.create_job(name)
    once = server.patch_status(name, {"status": {"message": "m"}})
    again = server.patch_status(name, {"status": {"message": "m"}})
    versions = [int(o["metadata"]["resourceVersion"]) for o in (made, once, again)]
    assert versions[0] < versions[1] == versions[2]


def test_a_status_patch_naming_an_older_resource_version_is_a_conflict(server: Server) -> None:
    name = unique("stale")
    made = server.create_job(name)
    server.patch_status(name, {"status": {"message": "first"}})
    stale = {"metadata": {"resourceVersion": made["metadata"]["resourceVersion"]}}
    assert refused(lambda: server.patch_status(name, {**stale, "status": {"message": "x"}})) == 409
    assert server.get_job(name)["status"] == {"message": "first"}


def test_a_uid_in_a_status_patch_is_no_precondition(server: Server) -> None:
    name = unique("uid")
    server.create_job(name)
    other = {
        "metadata": {"uid": "00000000-0000-0000-0000-000000000000"},
        "status": {"message": "x"},
    }
    if server.fake is not None:
        # The real server ignores it; the fake refuses, so no writer can rely on it.
        with pytest.raises(AssertionError, match="other than resourceVersion"):
            server.patch_status(name, other)
        return
    assert server.patch_status(name, other)["status"] == {"message": "x"}


def test_a_missing_object_is_404_for_read_and_status_patch(server: Server) -> None:
    name = unique("missing")
    assert refused(lambda: server.get_job(name)) == 404
    assert refused(lambda: server.patch_status(name, {"status": {"message": "x"}})) == 404


def test_the_generation_moves_with_the_spec_and_not_with_the_status(server: Server) -> None:
    name = unique("generation")
    server.create_job(name)
    server.patch_status(name, {"status": {"message": "m"}})
    assert server.get_job(name)["metadata"]["generation"] == 1
    assert server.edit_spec(name, shots=77)["metadata"]["generation"] == 2


def test_a_configmap_name_taken_is_a_conflict_and_a_failed_json_patch_test_is_422(
    server: Server,
) -> None:
    name = unique("taken")
    owner = server.create_job(name)
    server.create_configmap(name, owner)
    assert refused(lambda: server.create_configmap(name, None)) == 409
    wrong: list[Obj] = [
        {"op": "test", "path": "/metadata/ownerReferences/0/uid", "value": "someone-else"},
        {"op": "add", "path": "/data", "value": {"b": "2"}},
    ]
    assert refused(lambda: server.patch_configmap(name, wrong)) == 422
    right = copy.deepcopy(wrong)
    right[0]["value"] = owner["metadata"]["uid"]
    assert server.patch_configmap(name, right)["data"] == {"b": "2"}


def test_deleting_a_job_lets_the_garbage_collector_delete_what_it_owns(server: Server) -> None:
    name = unique("owned")
    owner = server.create_job(name)
    server.create_configmap(name, owner)
    server.create_configmap(name + "-free", None)
    server.delete_job(name)
    deadline = time.monotonic() + 90
    while server.configmap_exists(name):
        assert time.monotonic() < deadline, "the owned ConfigMap outlived its job by 90 s"
        time.sleep(0.5)
    assert server.configmap_exists(name + "-free")
