"""What `Sampler` and `Estimator` share: where their jobs go and how a call is named
and submitted.

A primitive runs against a cluster (the QiskitJobs of `namespace`, with the
kubeconfig and context given, else the current ones) or, with `local=True`, through
the embedded pipeline in this process.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

from qiskit_operator.client.job import OperatorJob
from qiskit_operator.client.pubs import JobTemplate, PubRequest
from qiskit_operator.client.runners import ClusterRunner, JobRunner

BuildRequest = Callable[[str, str, int], PubRequest]
"""(the job's name, the call's job id, the pub's index) -> its request."""


class OperatorPrimitive:
    """The connection and job template of a primitive (see `Sampler`, `Estimator`)."""

    kind = "primitive"

    def __init__(
        self,
        *,
        namespace: str = "default",
        backend: str | Mapping[str, Any] | None = None,
        backend_selection: Mapping[str, Any] | None = None,
        budget: str | Mapping[str, Any] | None = None,
        session: str | None = None,
        context: str | None = None,
        kubeconfig: str | None = None,
        local: bool = False,
        seed: int | None = None,
        timeout: float | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.template = JobTemplate(
            namespace=namespace,
            backend={"name": backend} if isinstance(backend, str) else backend,
            backend_selection=backend_selection,
            budget={"maxCost": budget} if isinstance(budget, str) else budget,
            session=session,
            seed=seed,
            labels=dict(labels or {}),
        )
        self.local = local
        self.timeout = timeout
        self._runner: JobRunner
        if local:
            from qiskit_operator.client.local import LocalRunner

            self._runner = LocalRunner(namespace)
        else:
            self._runner = ClusterRunner(namespace, context, kubeconfig)

    def close(self) -> None:
        """Stops the embedded pipeline of a local primitive; nothing to do on a cluster."""
        close = getattr(self._runner, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _submit(self, builders: Sequence[BuildRequest]) -> OperatorJob:
        # Built (and so checked) all before the first is sent: a bad pub sends nothing.
        job_id = f"{self.kind}-{secrets.token_hex(4)}"
        if len(builders) == 1:
            requests = [builders[0](job_id, job_id, 0)]
        else:
            requests = [build(f"{job_id}-{i}", job_id, i) for i, build in enumerate(builders)]
        for request in requests:
            self._runner.submit(request.manifest)
        return OperatorJob(job_id, self._runner, requests, self.timeout)
