"""The StatusWriter on the Kubernetes API: what reconcile writes on a cluster.

Merge-patches `/status` only (never the spec), with the resourceVersion it read,
so a concurrent write is a 409 and the decision is made again on fresh state;
quietly does nothing for a job that is gone, was replaced, or is at another
generation; records core/v1 Events that `kubectl describe qjob` shows; writes
result ConfigMaps owned by the job, so Kubernetes deletes them with it, and
never replaces one the job does not own (a JSON patch whose `test` of the
owner's uid must pass; reconcile may not even read ConfigMaps).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pydantic

from qiskit_operator import metrics
from qiskit_operator.events.payloads import JobRef
from qiskit_operator.kube.client import KubeConnection, cached_jobs
from qiskit_operator.kube.errors import (
    APIConflictError,
    APIError,
    APINotFoundError,
    call_api,
)
from qiskit_operator.models import GROUP, VERSION, JobStatus
from qiskit_operator.models.spec import OutputSpec
from qiskit_operator.status.writer import (
    ConfigMapTakenError,
    Decide,
    EventKind,
    JobNow,
    ListedJob,
    ResultsNotFreeError,
)

PLURAL = "qiskitjobs"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
UNPROCESSABLE = 422  # what the API server answers when a JSON patch's `test` fails
COMPONENT = "qiskit-reconcile"
log = logging.getLogger(__name__)


class KubeStatusWriter:
    def __init__(self, connection: KubeConnection, conflict_retries: int = 8) -> None:
        self._connection = connection
        self._retries = conflict_retries
        self.patches = 0
        self.conflicts = 0

    def update(self, ref: JobRef, decide: Decide) -> JobStatus | None:
        custom = self._connection.custom()
        for _ in range(self._retries):
            try:
                job = call_api(
                    f"reading qiskitjob {ref.key}",
                    custom.get_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    ref.namespace,
                    PLURAL,
                    ref.name,
                )
            except APINotFoundError:
                log.info("qiskitjob %s is gone; event dropped", ref.key)
                return None
            meta = job["metadata"]  # the API server always sends uid and generation
            if not ref.uid or meta["uid"] != ref.uid:
                return None  # deleted and created again: this event is about the old one
            if meta["generation"] != ref.generation:
                return None  # the spec changed since: the event is about an older one
            raw = job.get("status")
            current = JobStatus.model_validate(raw) if raw else None
            new = decide(current)
            if new is None:
                return None
            body = {
                "metadata": {"resourceVersion": meta["resourceVersion"]},
                "status": merge_patch_between(raw or {}, _wire(new)),
            }
            try:
                call_api(
                    f"patching qiskitjob {ref.key}/status",
                    custom.patch_namespaced_custom_object_status,
                    GROUP,
                    VERSION,
                    ref.namespace,
                    PLURAL,
                    ref.name,
                    body,
                    _content_type=MERGE_PATCH,
                )
            except APIConflictError:
                self.conflicts += 1
                metrics.STATUS_CONFLICTS.inc()
                continue  # someone wrote it since we read it: decide again
            except APINotFoundError:
                return None
            self.patches += 1
            metrics.STATUS_PATCHES.inc()
            return new
        raise APIConflictError(
            f"qiskitjob {ref.key} kept changing; gave up after {self._retries} tries", 409
        )

    def read(self, ref: JobRef) -> JobNow | None:
        try:
            job = call_api(
                f"reading qiskitjob {ref.key}",
                self._connection.custom().get_namespaced_custom_object,
                GROUP,
                VERSION,
                ref.namespace,
                PLURAL,
                ref.name,
            )
        except APINotFoundError:
            return None
        listed = _listed(job)
        if listed is None:
            return None
        try:  # no output, or one that does not validate: validate refuses it
            spec = OutputSpec.model_validate((job.get("spec") or {}).get("output"))
        except pydantic.ValidationError:
            spec = None  # the job is refused by validate; it expects no results
        return JobNow(listed.ref, listed.status, spec)

    def jobs(self) -> list[ListedJob]:
        found = (_listed(item) for item in cached_jobs(self._connection))
        return [job for job in found if job is not None]

    def record_event(self, ref: JobRef, kind: EventKind, reason: str, message: str) -> None:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{ref.name}.{uuid.uuid4().hex[:12]}", "namespace": ref.namespace},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "QiskitJob",
                "name": ref.name,
                "namespace": ref.namespace,
                "uid": ref.uid,
            },
            "reason": reason,
            "message": message[:1024],
            "type": kind,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
        }
        with contextlib.suppress(APINotFoundError):  # the namespace is going away
            call_api(
                f"recording an event for {ref.key}",
                self._connection.core().create_namespaced_event,
                ref.namespace,
                body,
            )

    def write_configmap(self, ref: JobRef, name: str, data: dict[str, str]) -> bool:
        core = self._connection.core()
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": ref.namespace,
                "labels": {"quantum.io/job": ref.name},
                "annotations": _held(ref),
                "ownerReferences": [
                    {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": "QiskitJob",
                        "name": ref.name,
                        "uid": ref.uid,
                        "controller": True,
                    }
                ],
            },
            "data": data,
        }
        for _ in range(3):
            try:
                call_api(
                    f"creating configmap {ref.namespace}/{name}",
                    core.create_namespaced_config_map,
                    ref.namespace,
                    body,
                )
                return True
            except APIConflictError:
                pass
            try:
                replaced = self._replace_own(ref, name, data)
            except (APINotFoundError, APIConflictError):
                continue  # deleted or written meanwhile: start again
            if replaced is not None:
                return replaced
            # changed between its read and the replace: read it again
        raise APIConflictError(f"configmap {ref.namespace}/{name} kept changing", 409)

    def _replace_own(self, ref: JobRef, name: str, data: dict[str, str]) -> bool | None:
        """Replace the data of a ConfigMap a job of this name owns, if it is this job (its
        uid) at this generation or an older one. Reconcile may not read ConfigMaps: a JSON
        patch of `test`s alone reads it (the owner's kind and name), and the write then
        tests the resourceVersion so nothing can change it in between: None when something
        did, to be read again."""
        where = f"configmap {ref.namespace}/{name}"
        owned = [
            {"op": "test", "path": "/metadata/ownerReferences/0/kind", "value": "QiskitJob"},
            {"op": "test", "path": "/metadata/ownerReferences/0/name", "value": ref.name},
        ]
        if not ref.uid:
            raise ConfigMapTakenError(ref.namespace, name)
        existing = _metadata(self._json_patch(ref, name, owned, f"reading {where}"))
        owner = existing.owner_uid
        if owner != ref.uid:
            now = self.read(ref)
            if now is None or now.ref.uid != ref.uid:
                log.info(
                    "%s belongs to a newer job %s; answer of %s dropped", where, owner, ref.uid
                )
                return False
            raise ResultsNotFreeError(ref.namespace, name)
        if existing.generation > ref.generation:
            log.info("%s holds generation %d; %s dropped", where, existing.generation, ref.key)
            return False
        replace: list[dict[str, Any]] = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": existing.version},
            {"op": "add", "path": "/metadata/annotations", "value": _held(ref)},
            {"op": "add", "path": "/data", "value": data},
        ]
        try:
            self._json_patch(ref, name, replace, f"replacing {where}")
        except ConfigMapTakenError:  # its resourceVersion moved since it was read
            return None
        return True

    def _json_patch(self, ref: JobRef, name: str, ops: list[dict[str, Any]], what: str) -> Any:
        try:
            return call_api(
                what,
                self._connection.core().patch_namespaced_config_map,
                name,
                ref.namespace,
                ops,
                _content_type=JSON_PATCH,
            )
        except APIError as error:
            if error.status == UNPROCESSABLE:  # a `test` failed
                raise ConfigMapTakenError(ref.namespace, name) from error
            raise


HELD_UID = "quantum.io/job-uid"
HELD_GENERATION = "quantum.io/generation"


def _held(ref: JobRef) -> dict[str, str]:
    """The annotations that say whose results a ConfigMap holds."""
    return {HELD_UID: ref.uid, HELD_GENERATION: str(ref.generation)}


@dataclass(frozen=True, slots=True)
class _Existing:
    owner_uid: str
    generation: int
    version: str


def _metadata(configmap: Any) -> _Existing:
    """Owner, held generation and resourceVersion of a ConfigMap the client returned."""
    meta = configmap.metadata
    held = (meta.annotations or {}).get(HELD_GENERATION, "0")
    owner = str(meta.owner_references[0].uid)  # the read tested that it has one
    return _Existing(owner, int(held) if held.isdigit() else 0, str(meta.resource_version))


def _listed(item: dict[str, Any]) -> ListedJob | None:
    """A listed job, read from the raw object (its spec may not validate); None for
    one whose status reconcile cannot read."""
    meta = item["metadata"]  # what the API server sets on every object it lists
    ref = JobRef(
        namespace=meta["namespace"],
        name=meta["name"],
        uid=meta["uid"],
        generation=meta["generation"],
    )
    try:
        status = JobStatus.model_validate(item["status"]) if "status" in item else None
    except pydantic.ValidationError as error:
        log.warning("qiskitjob %s has a status reconcile cannot read: %s", ref.key, error)
        return None
    when = datetime.fromisoformat(meta["creationTimestamp"])
    return ListedJob(ref, status, when)


def _wire(status: JobStatus) -> dict[str, Any]:
    wire: dict[str, Any] = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return wire


def merge_patch_between(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that makes `old` into `new`, at every depth.

    A merge patch merges nested maps key by key, so a key that went away must be sent
    as null wherever it is: without that, a new generation's `results.counts` or
    `circuitMetadata.gateTypes` would keep the previous run's keys beside its own.
    Lists are replaced whole; values that did not change are left out.
    """
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            nested = merge_patch_between(before, value)
            if nested:
                patch[key] = nested
        elif value != before or key not in old:
            patch[key] = value
    return patch
