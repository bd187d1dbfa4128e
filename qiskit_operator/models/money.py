"""An amount of money: a QiskitJob's `status.estimatedCost` and `status.actualCost`.

QiskitBackend prices are in US dollars, and so are QiskitBudget limits.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from qiskit_operator.models.base import ResourceModel

Currency = Literal["USD"]


class Money(ResourceModel):
    """An amount and its currency."""

    model_config = ConfigDict(extra="ignore")

    amount: float = Field(ge=0, description="The amount, e.g. 0.42.")
    currency: Currency = Field("USD", description="Its currency: USD.")

    def __str__(self) -> str:
        # Cents, unless that would round a real cost of a fraction of a cent to nothing.
        small = 0 < self.amount < 0.01
        amount = f"{self.amount:.6f}".rstrip("0") if small else f"{self.amount:.2f}"
        return f"{amount} {self.currency}"
