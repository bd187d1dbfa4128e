"""The observed state of a QiskitJob: what reconcile writes under `status:`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from qiskit_operator.models.base import ResourceModel
from qiskit_operator.models.money import Money
from qiskit_operator.models.phases import Phase

REQUEUED = "Requeued"  # the condition the resync sets on a run whose answer is overdue


class StatusModel(ResourceModel):
    # Status is written by us but read back from the cluster: tolerate fields
    # a newer writer added instead of failing to reconcile.
    model_config = ConfigDict(extra="ignore")


class Condition(StatusModel):
    """A Kubernetes metav1.Condition."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: datetime
    observed_generation: int | None = None


class CircuitMetadata(StatusModel):
    hash: str = Field(description="sha256 of the circuit's canonical QPY.")
    depth: int
    qubits: int
    clbits: int | None = None
    gates: int = Field(description="Instruction count, measurements included (circuit size).")
    gate_types: dict[str, int] = Field(default_factory=dict)
    transpiled_for: str | None = Field(
        None, description="The device the circuit was transpiled for, when it runs on one."
    )
    transpiled_depth: int | None = Field(None, description="Depth after transpiling for it.")
    transpiled_two_qubit_gates: int | None = Field(
        None, description="Two-qubit gates after transpiling for it."
    )


class SweepEntry(StatusModel):
    parameters: list[float]
    counts: dict[str, int] | None = None
    expectation_values: list[float] | None = None


class Reproducibility(StatusModel):
    """What it takes to get the same result again."""

    qiskit_version: str
    qiskit_aer_version: str
    seed: int
    method: str
    transpiled_depth: int
    noise_model: str | None = None


class Results(StatusModel):
    counts: dict[str, int] | None = Field(
        None, description="The most frequent outcomes (16 at most); all are at location."
    )
    outcomes: int | None = Field(None, description="How many distinct outcomes there were.")
    expectation_values: list[float] | None = None
    standard_errors: list[float] | None = None
    sweep: list[SweepEntry] | None = None
    shots: int | None = None
    execution_time: str | None = Field(None, description='Simulation wall time, e.g. "0.002s".')
    location: str | None = Field(None, description="Where the full result is stored.")
    reproducibility: Reproducibility | None = None


class Metrics(StatusModel):
    validation_seconds: float | None = None
    transpile_seconds: float | None = None
    execution_seconds: float | None = None
    total_seconds: float | None = None
    method: str | None = None
    transpiled: bool | None = None


class JobStatus(StatusModel):
    """status of a QiskitJob."""

    phase: Phase | None = None
    message: str | None = None
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    start_time: datetime | None = None
    completion_time: datetime | None = None
    selected_backend: str | None = None
    original_backend: str | None = Field(
        None, description="The backend first asked for, when selection fell back from it."
    )
    fallback_used: bool | None = Field(None, description="Whether selection fell back.")
    circuit_metadata: CircuitMetadata | None = None
    results: Results | None = None
    metrics: Metrics | None = None
    job_id: str | None = Field(None, description="The provider's id of a hardware job.")
    queue_position: int | None = Field(None, description="Jobs ahead in the provider's queue.")
    estimated_start_time: datetime | None = Field(
        None, description="When the provider expects to start the job."
    )
    retry_count: int | None = None
    next_retry_at: datetime | None = None
    progress: str | None = Field(
        None,
        description="How much of the run is done, e.g. 0/100 parameter sets when it is "
        "scheduled, 100/100 when it completed; a sweep counts parameter sets, a circuit 1.",
    )
    estimated_cost: Money | None = Field(
        None, description="What validate expects the run to cost, from its backend's price."
    )
    actual_cost: Money | None = Field(None, description="What the run cost, as execute measured.")

    def requeued_for(self, generation: int) -> bool:
        """Whether reconcile's resync asked for this generation's run again (its answer
        was not heard within the lease): validate then validates it once more."""
        if self.observed_generation != generation or self.phase is None:
            return False
        if self.phase.is_terminal:
            return False
        return any(
            c.type == REQUEUED and c.status == "True" and c.observed_generation == generation
            for c in self.conditions
        )
