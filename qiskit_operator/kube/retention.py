"""`JobRetention` on the Kubernetes API: the finished jobs, and their deletion.

Used by reconcile (`retention`, `reconciling`). Lists from the API server's
watch cache, like the resync. A delete carries the uid and resourceVersion it
saw as preconditions, so the API server itself refuses (409) to delete a job
created again under the same name or changed since; it propagates in the
background, and the garbage collector then deletes the ConfigMaps the job owns.
"""

from __future__ import annotations

from qiskit_operator.kube.client import KubeConnection, cached_jobs
from qiskit_operator.kube.errors import APIConflictError, APINotFoundError, call_api
from qiskit_operator.models import GROUP, VERSION
from qiskit_operator.retention import FinishedJob, finished_object

PLURAL = "qiskitjobs"


class KubeRetention:
    def __init__(self, connection: KubeConnection) -> None:
        self._connection = connection

    def finished_jobs(self) -> list[FinishedJob]:
        found = (finished_object(item) for item in cached_jobs(self._connection))
        return [job for job in found if job is not None]

    def delete(self, job: FinishedJob) -> bool:
        ref = job.ref
        preconditions = {"uid": ref.uid, "resourceVersion": job.resource_version}
        try:
            call_api(
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
