"""The QiskitBudget custom resource: a namespace's spending limit for a period.

`spec` is what a namespace's owner writes (a limit in US dollars per day, week
or month, optionally for one cost center); `status` is written by reconcile
alone (`budgets.ledger` decides it, `kube.budgets` writes it with the
resourceVersion it read): what the current period has spent, what running jobs
hold reserved, what remains, and one entry per job keyed by its uid, so that a
replayed event never charges a job twice. Imports no Qiskit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from qiskit_operator.models.base import ResourceModel
from qiskit_operator.models.job import ObjectMeta
from qiskit_operator.models.money import Currency

Period = Literal["day", "week", "month"]
ChargeState = Literal["reserved", "charged"]


class QiskitBudgetSpec(ResourceModel):
    """spec of a QiskitBudget."""

    limit: float = Field(ge=0, description="Most the namespace's jobs may cost in one period.")
    currency: Currency = Field("USD", description="The limit's currency: USD.")
    period: Period = Field(
        "month", description="day, week or month (UTC, weeks start on Monday); rolls over."
    )
    cost_center: str | None = Field(
        None,
        description="Only jobs with this spec.budget.costCenter are charged here; absent: "
        "jobs of the namespace that name no other budget.",
    )


class Charge(ResourceModel):
    """One job's part of a period: held while it runs, charged when it finishes."""

    model_config = ConfigDict(extra="ignore")

    job: str = Field(description="The job's name.")
    amount: float = Field(ge=0, description="Its estimate while reserved, its cost once charged.")
    state: ChargeState


class QiskitBudgetStatus(ResourceModel):
    """status of a QiskitBudget: the current period's account."""

    model_config = ConfigDict(extra="ignore")

    period_start: datetime | None = None
    period_end: datetime | None = None
    spent: float = Field(0.0, ge=0, description="What finished jobs cost this period.")
    reserved: float = Field(0.0, ge=0, description="What admitted, unfinished jobs may cost.")
    remaining: float | None = Field(None, description="limit - spent - reserved.")
    jobs: int = Field(0, ge=0, description="Jobs admitted this period.")
    charges: dict[str, Charge] = Field(
        default_factory=dict, description="Each job's reservation or charge, by job uid."
    )
    message: str | None = None
    observed_generation: int | None = None


class QiskitBudget(ResourceModel):
    """A spending limit for a namespace (and cost center) and period."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["quantum.io/v1"] = "quantum.io/v1"
    kind: Literal["QiskitBudget"] = "QiskitBudget"
    metadata: ObjectMeta
    spec: QiskitBudgetSpec
    status: QiskitBudgetStatus | None = None
