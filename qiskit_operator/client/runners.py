"""Where a primitive's QiskitJobs run: a cluster's API server, or the embedded pipeline.

`Sampler` and `Estimator` hand their jobs to a `JobRunner`; `OperatorJob` asks it
how they stand, waits on them and reads their results. `ClusterRunner` talks to
the API server as the user (kubeconfig and context), through the kube adapter;
`LocalRunner` runs the same pipeline as `qop run`, in this process.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.jobs import JobsApi
from qiskit_operator.models import QiskitJob

Body = dict[str, Any]
RESULT_KEY = "result.json"
FINAL_PHASES = frozenset({"Completed", "Failed", "Cancelled"})


class JobRunner(Protocol):
    namespace: str

    def submit(self, manifest: Body) -> None: ...

    def current(self, name: str) -> QiskitJob | None:
        """The job as it stands now; None when it is gone (deleted: cancelled)."""
        ...

    def wait(
        self,
        name: str,
        timeout: float | None,
        on_change: Callable[[QiskitJob], None] | None = None,
    ) -> QiskitJob | None:
        """The job once it is in a final phase; None once it is gone."""
        ...

    def result_document(self, name: str) -> Body:
        """The job's full result (what execute wrote, as JSON)."""
        ...

    def cancel(self, name: str) -> bool: ...


def is_final(job: QiskitJob | None) -> bool:
    """Whether the job will not change: gone, in a final phase, or cancelled (spec.cancel,
    which reconcile turns into Cancelled unless the job had already finished)."""
    if job is None or job.spec.cancel:
        return True
    phase = job.status.phase if job.status is not None else None
    return phase is not None and str(phase) in FINAL_PHASES


class ClusterRunner:
    """The QiskitJobs of one namespace on a cluster."""

    def __init__(
        self, namespace: str, context: str | None = None, kubeconfig: str | None = None
    ) -> None:
        self.namespace = namespace
        self.api = JobsApi(KubeConnection(kubeconfig, context), namespace)

    def submit(self, manifest: Body) -> None:
        self.api.create(manifest)

    def current(self, name: str) -> QiskitJob | None:
        found = self.api.get(name)
        return None if found is None else QiskitJob.model_validate(found)

    def wait(
        self,
        name: str,
        timeout: float | None,
        on_change: Callable[[QiskitJob], None] | None = None,
    ) -> QiskitJob | None:
        def seen(body: Body) -> None:
            if on_change is not None:
                on_change(QiskitJob.model_validate(body))

        final = self.api.wait(
            name,
            lambda body: body is None or is_final(QiskitJob.model_validate(body)),
            timeout,
            on_change=seen,
        )
        return None if final is None else QiskitJob.model_validate(final)

    def result_document(self, name: str) -> Body:
        job = self.current(name)
        location = _configmap_of(job) if job is not None else None
        data = self.api.configmap(location or f"{name}-results")
        if data is None or RESULT_KEY not in data:
            raise LookupError(
                f"qiskitjob {self.namespace}/{name} completed but its result ConfigMap "
                f"{location or name + '-results'} has no {RESULT_KEY}"
            )
        return dict(json.loads(data[RESULT_KEY]))

    def cancel(self, name: str) -> bool:
        return self.api.cancel(name)


def _configmap_of(job: QiskitJob) -> str | None:
    results = job.status.results if job.status is not None else None
    location = results.location if results is not None else None
    if location and location.startswith("configmap://"):
        return location.rsplit("/", 1)[-1]
    return None
