"""The QiskitSession custom resource: jobs that share a backend, a time limit and
accounting.

A job joins a session by naming it in `spec.session.name` (same namespace).
On Aer the session runs its jobs in submission order by priority and pins
them to its own backend configuration; on IBM Runtime its jobs run inside one
Runtime Session (dedicated) or Batch. `maxTime` after the session's first job
started, it closes: jobs running finish, jobs still waiting fail saying so.
Reconcile alone writes `status` (`sessions.scheduling`); validate reads the
spec (`sessions.holding`). Imports no Qiskit. docs/sessions.md.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from qiskit_operator.models.base import ResourceModel
from qiskit_operator.models.job import ObjectMeta
from qiskit_operator.models.money import Money
from qiskit_operator.models.spec import DURATION_PATTERN, BackendSpec

SessionMode = Literal["dedicated", "batch"]
SessionState = Literal["Open", "Closed"]
MAX_TIME_MESSAGE = (
    "maxTime must be a duration such as 90s, 10m or 8h: how long after its first job "
    "started the session closes"
)


class QiskitSessionSpec(ResourceModel):
    """spec of a QiskitSession."""

    mode: SessionMode = Field(
        "dedicated",
        description="dedicated: one job at a time, in order (a Runtime Session); batch: "
        "several at once (a Runtime Batch).",
    )
    backend: BackendSpec = Field(
        description="The backend configuration every job of the session runs on; it "
        "replaces the job's own spec.backend."
    )
    max_time: str = Field(
        "1h",
        pattern=DURATION_PATTERN,
        description="How long after its first job started the session closes, e.g. 10m, "
        "2h (more than zero).",
    )

    @field_validator("max_time")
    @classmethod
    def _more_than_zero(cls, value: str) -> str:
        if re.search("[1-9]", value) is None:
            raise ValueError(MAX_TIME_MESSAGE)
        return value


class QiskitSessionStatus(ResourceModel):
    """status of a QiskitSession, written by reconcile alone."""

    model_config = ConfigDict(extra="ignore")

    state: SessionState | None = Field(None, description="Open, or Closed once maxTime passed.")
    message: str | None = None
    opened_at: datetime | None = Field(None, description="When its first job started.")
    closed_at: datetime | None = None
    running: list[str] = Field(default_factory=list, description="Its jobs running now.")
    waiting: int = Field(0, ge=0, description="Its jobs waiting for their turn.")
    jobs_run: int = Field(0, ge=0, description="Its jobs that ran to an end.")
    time_used_seconds: float = Field(0.0, ge=0, description="Seconds since it opened.")
    cost: Money | None = Field(None, description="What its jobs cost together (their actualCost).")
    observed_generation: int | None = None


class QiskitSession(ResourceModel):
    """A group of jobs sharing a backend, a time limit and accounting."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["quantum.io/v1"] = "quantum.io/v1"
    kind: Literal["QiskitSession"] = "QiskitSession"
    metadata: ObjectMeta
    spec: QiskitSessionSpec
    status: QiskitSessionStatus | None = None
