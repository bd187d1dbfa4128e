"""A Kubernetes API server in memory, faithful on what reconcile relies on.

Unit tests (and the model test, tests/unit/test_status_model.py) hand reconcile's real
`KubeStatusWriter` a `FakeAPIServer.connection()` instead of a cluster, so what they
prove about status is proven through the same patches the real API server receives.
What it claims, each checked against the real kube-apiserver by
tests/e2e/test_fake_apiserver_claims.py:

- a merge patch on /status is RFC 7386: nested maps merge key by key, a null removes
  a key, a list replaces the list; nothing outside `status` changes;
- `metadata.resourceVersion` changes with each write that changes the object and
  not with one that changes nothing; a patch that names another one is a 409; a
  uid in a /status patch is no precondition (the real server ignores it);
- `metadata.generation` moves only when the spec changes;
- a missing object is a 404, a name taken on create a 409, a JSON patch whose `test`
  fails a 422;
- deleting an object leaves its dependents (ownerReferences) until the garbage
  collector runs (`collect_garbage`), which then deletes those with no owner left.

Where the real server would quietly ignore part of a write (metadata in a /status
patch, an unknown patch type), this fake raises `ImpossibleWriteError` instead: a test
must not pass on a write that could not have had the effect it expects.

Faults are injected per call (`fail`): an HTTP status, a timeout, or a write that
is applied but whose answer is lost.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from kubernetes.client import V1ConfigMap, V1ObjectMeta, V1OwnerReference
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ReadTimeoutError

from qiskit_operator.events.payloads import JobRef
from qiskit_operator.kube.status import KubeStatusWriter
from qiskit_operator.models import JobStatus, QiskitJob
from qiskit_operator.status.writer import (
    Decide,
    EventKind,
    JobNow,
    ListedJob,
    OwnedConfigMap,
    RecordedEvent,
)

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
JOBS = "qiskitjobs"
Obj = dict[str, Any]
Fault = Literal["conflict", "unavailable", "timeout", "lost"]


class ImpossibleWriteError(AssertionError):
    """A write the real API server would not carry out as the caller expects."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: `patch` applied to `target`."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _error(status: int, reason: str) -> ApiException:
    return ApiException(status=status, reason=reason)


@dataclass
class FakeAPIServer:
    """Objects keyed by (resource, namespace, name), as the API server's JSON."""

    objects: dict[tuple[str, str, str], Obj] = field(default_factory=dict)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    hooks: dict[str, list[Callable[[], object]]] = field(default_factory=dict)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _revisions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _uids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- what a test does, as a user with kubectl would --------------------------------

    def connection(self) -> FakeConnection:
        return FakeConnection(self)

    def apply(self, manifest: Obj | QiskitJob, uid: str | None = None) -> Obj:
        """Create the job, or change its spec (the generation moves when it changed).
        `uid` picks the new object's uid, so tests can name it; the server makes one."""
        if isinstance(manifest, QiskitJob):
            manifest = manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
        meta = manifest["metadata"]
        key = (JOBS, meta.get("namespace") or "default", meta["name"])
        existing = self.objects.get(key)
        if existing is None:
            obj: Obj = {
                "apiVersion": "quantum.io/v1",
                "kind": "QiskitJob",
                "metadata": {
                    "name": key[2],
                    "namespace": key[1],
                    "uid": uid or f"uid-{next(self._uids)}",
                    "generation": 1,
                    "creationTimestamp": meta.get("creationTimestamp") or _stamp(self.clock()),
                },
                "spec": copy.deepcopy(manifest.get("spec") or {}),
            }
            if manifest.get("status"):  # a test's shortcut; kubectl would patch /status
                obj["status"] = copy.deepcopy(manifest["status"])
            return self._store(key, obj)
        if existing.get("spec") == manifest.get("spec"):
            return copy.deepcopy(existing)
        changed = copy.deepcopy(existing)
        changed["spec"] = copy.deepcopy(manifest.get("spec") or {})
        changed["metadata"]["generation"] += 1
        return self._store(key, changed)

    def delete(self, resource: str, namespace: str, name: str) -> None:
        """Delete one object; its dependents stay until `collect_garbage`."""
        if self.objects.pop((resource, namespace, name), None) is None:
            raise _error(404, "Not Found")

    def collect_garbage(self) -> list[tuple[str, str, str]]:
        """What the garbage collector does, some time after a delete: every object whose
        owners are all gone goes too. Returns what it deleted."""
        collected: list[tuple[str, str, str]] = []
        while True:
            uids = {obj["metadata"]["uid"] for obj in self.objects.values()}
            orphans = [
                key
                for key, obj in self.objects.items()
                if (owners := obj["metadata"].get("ownerReferences"))
                and not any(owner["uid"] in uids for owner in owners)
            ]
            if not orphans:
                return collected
            for key in orphans:
                del self.objects[key]
            collected += orphans

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        found = self.objects.get((resource, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def job(self, key: str) -> QiskitJob | None:
        """The job `namespace/name` as a model, as `kubectl get -o yaml` would read it."""
        namespace, name = key.split("/")
        found = self.get(JOBS, namespace, name)
        return QiskitJob.model_validate(found) if found is not None else None

    def of(self, resource: str) -> list[Obj]:
        return [copy.deepcopy(o) for (r, _, _), o in sorted(self.objects.items()) if r == resource]

    def fail(self, verb: str, *faults: Fault) -> None:
        """The next calls of `verb` (e.g. "patch_status", "create_event") fail so."""
        self.faults.setdefault(verb, []).extend(faults)

    def before(self, verb: str, action: Callable[[], object]) -> None:
        """Run `action` (what someone else does meanwhile) just before the next `verb`."""
        self.hooks.setdefault(verb, []).append(action)

    # -- the API ------------------------------------------------------------------------

    def _store(self, key: tuple[str, str, str], obj: Obj) -> Obj:
        obj["metadata"]["resourceVersion"] = str(next(self._revisions))
        self.objects[key] = obj
        return copy.deepcopy(obj)

    def _call(self, verb: str, action: Callable[[], Obj]) -> Obj:
        self.calls.append(verb)
        hooks = self.hooks.get(verb)
        if hooks:
            hooks.pop(0)()
        pending = self.faults.get(verb)
        fault = pending.pop(0) if pending else None
        if fault == "conflict":
            raise _error(409, "Conflict")
        if fault == "unavailable":
            raise _error(500, "Internal Server Error")
        if fault == "timeout":
            raise ReadTimeoutError(None, verb, "read timed out")  # type: ignore[arg-type]
        answer = action()
        if fault == "lost":  # done, but the answer never came back
            raise ReadTimeoutError(None, verb, "read timed out")  # type: ignore[arg-type]
        return answer

    def _existing(self, key: tuple[str, str, str]) -> Obj:
        found = self.objects.get(key)
        if found is None:
            raise _error(404, "Not Found")
        return found

    def read(self, resource: str, namespace: str, name: str) -> Obj:
        return self._call("get", lambda: copy.deepcopy(self._existing((resource, namespace, name))))

    def listing(self, resource: str) -> Obj:
        return self._call("list", lambda: {"items": self.of(resource)})

    def patch_status(self, namespace: str, name: str, body: Any, content_type: str) -> Obj:
        def patch() -> Obj:
            if content_type != MERGE_PATCH:
                raise ImpossibleWriteError(
                    f"reconcile sends merge patches to /status, not {content_type}"
                )
            if not isinstance(body, dict) or set(body) - {"status", "metadata"}:
                raise ImpossibleWriteError(
                    f"a /status patch changes only status, not {sorted(body)}"
                )
            meta = body.get("metadata") or {}
            if set(meta) - {"resourceVersion"}:
                # The real server ignores a uid here (no precondition): only the
                # resourceVersion makes the write conditional.
                raise ImpossibleWriteError(
                    f"/status ignores metadata other than resourceVersion: {meta}"
                )
            key = (JOBS, namespace, name)
            current = self._existing(key)
            if (
                "resourceVersion" in meta
                and meta["resourceVersion"] != current["metadata"]["resourceVersion"]
            ):
                raise _error(409, "Conflict")
            status = merge_patch(current.get("status") or {}, body.get("status") or {})
            if status == (current.get("status") or {}):
                return copy.deepcopy(current)  # nothing changed: no write, same version
            changed = copy.deepcopy(current)
            changed["status"] = status
            return self._store(key, changed)

        return self._call("patch_status", patch)

    def create(self, resource: str, namespace: str, body: Obj, verb: str) -> Obj:
        def create() -> Obj:
            key = (resource, namespace, body["metadata"]["name"])
            if key in self.objects:
                raise _error(409, "AlreadyExists")
            obj = copy.deepcopy(body)
            obj["metadata"].update(namespace=namespace, uid=f"uid-{next(self._uids)}")
            return self._store(key, obj)

        return self._call(verb, create)

    def json_patch(self, resource: str, namespace: str, name: str, ops: list[Obj]) -> Obj:
        def patch() -> Obj:
            key = (resource, namespace, name)
            changed = copy.deepcopy(self._existing(key))
            for op in ops:
                _json_patch_op(changed, op)
            if changed == self.objects[key]:
                return changed
            return self._store(key, changed)

        return self._call("patch_" + resource, patch)


def _json_patch_op(obj: Obj, op: Obj) -> None:
    """One RFC 6902 operation of those reconcile sends (test, add, replace)."""
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"][1:].split("/")]
    node: Any = obj
    for part in parents:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError) as missing:
            raise _error(422, "Unprocessable Entity") from missing
    if op["op"] == "test":
        try:
            found = node[int(last)] if isinstance(node, list) else node[last]
        except (KeyError, IndexError, ValueError) as missing:
            raise _error(422, "Unprocessable Entity") from missing
        if found != op["value"]:
            raise _error(422, "Unprocessable Entity")
    elif op["op"] in ("add", "replace") and isinstance(node, dict):
        if op["op"] == "replace" and last not in node:
            raise _error(422, "Unprocessable Entity")
        node[last] = copy.deepcopy(op["value"])
    else:
        raise ImpossibleWriteError(f"this fake has no JSON patch {op['op']} on {op['path']}")


def _served(group: str, version: str, plural: str) -> None:
    """Only QiskitJobs are served here: anything else is a 404, as it would be."""
    if (group, version, plural) != ("quantum.io", "v1", JOBS):
        raise _error(404, "Not Found")


class FakeCustomObjects:
    """The calls `CustomObjectsApi` makes that the kube adapter uses."""

    def __init__(self, api: FakeAPIServer) -> None:
        self._api = api

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> Obj:
        _served(group, version, plural)
        return self._api.read(plural, namespace, name)

    def list_cluster_custom_object(
        self, group: str, version: str, plural: str, resource_version: str | None = None
    ) -> Obj:
        _served(group, version, plural)
        if resource_version is not None and not resource_version.isdigit():
            raise _error(400, "Bad Request")
        return self._api.listing(plural)

    def patch_namespaced_custom_object_status(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        body: Any,
        _content_type: str = "",
    ) -> Obj:
        _served(group, version, plural)
        return self._api.patch_status(namespace, name, body, _content_type)


class FakeCore:
    """The calls `CoreV1Api` makes that the kube adapter uses."""

    def __init__(self, api: FakeAPIServer) -> None:
        self._api = api

    def create_namespaced_event(self, namespace: str, body: Obj) -> Obj:
        return self._api.create("events", namespace, body, "create_event")

    def create_namespaced_config_map(self, namespace: str, body: Obj) -> V1ConfigMap:
        return _configmap(self._api.create("configmaps", namespace, body, "create_configmap"))

    def patch_namespaced_config_map(
        self, name: str, namespace: str, body: Any, _content_type: str = ""
    ) -> V1ConfigMap:
        if _content_type != JSON_PATCH:
            raise ImpossibleWriteError(
                f"ConfigMaps are patched here with JSON patch, not {_content_type}"
            )
        return _configmap(self._api.json_patch("configmaps", namespace, name, body))


def _configmap(obj: Obj) -> V1ConfigMap:
    """The client's model of a ConfigMap, as CoreV1Api returns it (not JSON)."""
    meta = obj["metadata"]
    owners = [
        V1OwnerReference(
            api_version=o["apiVersion"],
            kind=o["kind"],
            name=o["name"],
            uid=o["uid"],
            controller=o.get("controller"),
        )
        for o in meta.get("ownerReferences") or []
    ]
    return V1ConfigMap(
        metadata=V1ObjectMeta(
            name=meta["name"],
            namespace=meta["namespace"],
            uid=meta["uid"],
            resource_version=meta["resourceVersion"],
            labels=meta.get("labels"),
            annotations=meta.get("annotations"),
            owner_references=owners or None,
        ),
        data=obj.get("data"),
    )


class FakeConnection:
    """What `KubeConnection` hands the kube adapter."""

    def __init__(self, api: FakeAPIServer) -> None:
        self._api = api

    def custom(self) -> FakeCustomObjects:
        return FakeCustomObjects(self._api)

    def core(self) -> FakeCore:
        return FakeCore(self._api)


class FakeCluster:
    """Reconcile's real `KubeStatusWriter` on a `FakeAPIServer`, with what the tests read
    back: the jobs as models, the Events recorded, the ConfigMaps and their owners."""

    def __init__(self, api: FakeAPIServer | None = None) -> None:
        self.api = api or FakeAPIServer()
        self.writer = KubeStatusWriter(self.api.connection())  # type: ignore[arg-type]

    def add(self, job: QiskitJob | Obj) -> Obj:
        """Create the job (its uid as given, for readable refs), or change its spec."""
        obj = (
            job.model_dump(mode="json", by_alias=True, exclude_none=True)
            if isinstance(job, QiskitJob)
            else job
        )
        return self.api.apply(obj, uid=obj["metadata"].get("uid"))

    def get(self, key: str) -> QiskitJob | None:
        return self.api.job(key)

    def put_configmap(
        self, namespace: str, name: str, owner_uid: str, data: dict[str, str]
    ) -> None:
        """A ConfigMap someone else made: owned by `owner_uid` ("" for none)."""
        meta: Obj = {"name": name}
        if owner_uid:
            meta["ownerReferences"] = [
                {"apiVersion": "quantum.io/v1", "kind": "QiskitJob", "name": "?", "uid": owner_uid}
            ]
        self.api.create("configmaps", namespace, {"metadata": meta, "data": data}, "kubectl")

    @property
    def configmaps(self) -> dict[tuple[str, str], OwnedConfigMap]:
        return {
            (o["metadata"]["namespace"], o["metadata"]["name"]): OwnedConfigMap(
                _owner_uid(o),
                dict(o.get("data") or {}),
            )
            for o in self.api.of("configmaps")
        }

    @property
    def events(self) -> list[RecordedEvent]:
        recorded = sorted(
            self.api.of("events"), key=lambda e: int(e["metadata"]["resourceVersion"])
        )
        return [
            RecordedEvent(
                f"{e['involvedObject']['namespace']}/{e['involvedObject']['name']}",
                e["type"],
                e["reason"],
                e["message"],
            )
            for e in recorded
        ]

    # -- the StatusWriter, as reconcile uses it -----------------------------------------

    def update(self, ref: JobRef, decide: Decide) -> JobStatus | None:
        return self.writer.update(ref, decide)

    def read(self, ref: JobRef) -> JobNow | None:
        return self.writer.read(ref)

    def record_event(self, ref: JobRef, kind: EventKind, reason: str, message: str) -> None:
        self.writer.record_event(ref, kind, reason, message)

    def write_configmap(self, ref: JobRef, name: str, data: dict[str, str]) -> bool:
        return self.writer.write_configmap(ref, name, data)

    def jobs(self) -> list[ListedJob]:
        return self.writer.jobs()


def _owner_uid(obj: Obj) -> str:
    owners: list[Obj] = obj["metadata"].get("ownerReferences") or []
    return str(owners[0]["uid"]) if owners else ""


def _stamp(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")
