"""The QiskitJob custom resource as a whole: metadata, spec and status."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from qiskit_operator.models.base import ResourceModel
from qiskit_operator.models.spec import JobSpec
from qiskit_operator.models.status import JobStatus

GROUP = "quantum.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"


class ObjectMeta(BaseModel):
    """The parts of metav1.ObjectMeta we read; the rest is kept as it came."""

    model_config = ConfigDict(alias_generator=None, populate_by_name=True, extra="allow")

    name: str
    namespace: str = "default"
    uid: str | None = None
    generation: int | None = None
    resourceVersion: str | None = None  # noqa: N815 - the wire name
    creationTimestamp: datetime | None = None  # noqa: N815
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class QiskitJob(ResourceModel):
    """One circuit (or a sweep, or an estimator workload) to run."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["quantum.io/v1"] = "quantum.io/v1"
    kind: Literal["QiskitJob"] = "QiskitJob"
    metadata: ObjectMeta
    spec: JobSpec
    status: JobStatus | None = Field(None)

    @model_validator(mode="after")
    def _confined_to_its_namespace(self) -> Self:
        # A job reads only in its own namespace (DESIGN.md §6). CEL in the CRD cannot see
        # the namespace, so this one is checked by the model: admission, validate, qop run.
        credentials = self.spec.credentials
        secret = credentials.secret_ref if credentials is not None else None
        namespace = self.metadata.namespace
        if secret is not None and secret.namespace not in (None, namespace):
            raise PydanticCustomError(
                "namespace",
                "spec.credentials.secretRef.namespace is {theirs}, but a job reads Secrets "
                "only in its own namespace ({ours}); remove secretRef.namespace and put the "
                "Secret in {ours}",
                {"theirs": secret.namespace, "ours": namespace},
            )
        return self

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace}/{self.metadata.name}"

    @property
    def generation(self) -> int:
        return self.metadata.generation or 1
