"""The QiskitJob custom resource as a whole: metadata, spec and status."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace}/{self.metadata.name}"

    @property
    def generation(self) -> int:
        return self.metadata.generation or 1
