"""`JobRetention` on the Kubernetes API: the finished jobs, and their deletion.

Used by reconcile (`retention`, `reconciling`). Lists from the API server's
watch cache, like the resync. A delete carries the uid and resourceVersion it
saw as preconditions, so the API server itself refuses (409) to delete a job
created again under the same name or changed since; it propagates in the
background, and the garbage collector then deletes the ConfigMaps the job owns.
"""

from __future__ import annotations

import logging
from typing import Any

import pydantic

from qiskit_operator.events.payloads import JobRef
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.errors import APIConflictError, APINotFoundError, translate
from qiskit_operator.models import GROUP, VERSION, JobStatus
from qiskit_operator.retention import FinishedJob, finished, job_ttl

PLURAL = "qiskitjobs"
log = logging.getLogger(__name__)


class KubeRetention:
    def __init__(self, connection: KubeConnection) -> None:
        self._connection = connection

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return call(*args, **kwargs)
        except (ApiException, HTTPError) as error:
            raise translate(error, what) from error

    def finished_jobs(self) -> list[FinishedJob]:
        listing = self._call(
            "listing qiskitjobs",
            self._connection.custom().list_cluster_custom_object,
            GROUP,
            VERSION,
            PLURAL,
            resource_version="0",
        )
        found = (_finished(item) for item in listing.get("items", []))
        return [job for job in found if job is not None]

    def finished_job(self, ref: JobRef) -> FinishedJob | None:
        try:
            item = self._call(
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
        job = _finished(item)
        return job if job is not None and job.ref.uid == ref.uid else None

    def delete(self, job: FinishedJob) -> bool:
        ref = job.ref
        preconditions = {"uid": ref.uid, "resourceVersion": job.resource_version}
        try:
            self._call(
                f"deleting qiskitjob {ref.key}",
                self._connection.custom().delete_namespaced_custom_object,
                GROUP,
                VERSION,
                ref.namespace,
                PLURAL,
                ref.name,
                body={"preconditions": preconditions, "propagationPolicy": "Background"},
            )
        except (APINotFoundError, APIConflictError):
            return False  # gone, created again, or changed since it was read
        return True


def _finished(item: dict[str, Any]) -> FinishedJob | None:
    """A listed job if its current generation ended; read from the raw object, as its
    spec may not validate."""
    meta = item.get("metadata") or {}
    if not meta.get("name") or not item.get("status"):
        return None
    ref = JobRef(
        namespace=meta.get("namespace", "default"),
        name=meta["name"],
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation") or 1),
    )
    spec = item.get("spec") or {}
    output = spec.get("output") or {}
    ttl_seconds = spec.get("ttlSecondsAfterFinished")
    retention = output.get("retention")
    try:
        status = JobStatus.model_validate(item["status"])
    except pydantic.ValidationError:
        return None  # the resync says why; a status reconcile cannot read is not finished
    ttl = job_ttl(
        ttl_seconds if isinstance(ttl_seconds, int) else None,
        retention if isinstance(retention, str) else None,
    )
    job = finished(ref, status, ttl)
    if job is None:
        return None
    return FinishedJob(job.ref, job.finished_at, job.ttl, meta.get("resourceVersion"))
