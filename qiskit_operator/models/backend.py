"""The QiskitBackend custom resource: one backend the cluster offers.

A cluster's catalogue of backends, cluster-scoped: each names its provider
family and device (what a job writes as spec.backend), its size, basis gates,
error rates and price, and what the cluster administrator declares about its
availability. Reconcile refreshes `status` on the PingSource's ping
(`catalogue.refreshing`); backend selection (`spec.backendSelection` of a job)
chooses among them. Imports no Qiskit: reconcile reads these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from qiskit_operator.models.base import ResourceModel
from qiskit_operator.models.job import ObjectMeta

BackendFamily = Literal["aer", "ibm_runtime", "braket"]
Availability = Literal["Available", "Unavailable", "Maintenance"]
Primitive = Literal["sampler", "estimator"]


def _sampler_only() -> list[Primitive]:
    return ["sampler"]


class ErrorRates(ResourceModel):
    """Median error rates, where the provider publishes them (0 to 1)."""

    single_qubit_gate: float | None = Field(None, ge=0, le=1)
    two_qubit_gate: float | None = Field(None, ge=0, le=1)
    readout: float | None = Field(None, ge=0, le=1)


class Pricing(ResourceModel):
    """What a job on it costs, in US dollars: per shot, per second of use, or both."""

    per_shot: float | None = Field(None, ge=0, description="US dollars per shot.")
    per_second: float | None = Field(None, ge=0, description="US dollars per second of use.")
    per_task: float | None = Field(None, ge=0, description="US dollars per job (Braket's fee).")


class QiskitBackendSpec(ResourceModel):
    """spec of a QiskitBackend."""

    family: BackendFamily = Field(description="The provider family: aer, ibm_runtime, braket.")
    device: str = Field(
        description="The name a job gives as spec.backend.name, e.g. aer_simulator, "
        "fake_manila, braket_local."
    )
    simulator: bool = Field(False, description="Whether it simulates rather than runs hardware.")
    qubits: int = Field(ge=1, description="How many qubits it has.")
    basis_gates: list[str] = Field(default_factory=list, description="Its native gates.")
    coupling_map_edges: int | None = Field(
        None, ge=0, description="Directed qubit pairs a two-qubit gate may act on; absent: all."
    )
    error_rates: ErrorRates | None = None
    pricing: Pricing | None = None
    primitives: list[Primitive] = Field(
        default_factory=_sampler_only, description="The primitives it runs."
    )
    max_shots: int = Field(100_000, ge=1, description="Most shots one job may ask for.")
    availability: Availability = Field(
        "Available",
        description="What the cluster's administrator declares; Unavailable or Maintenance "
        "keeps backend selection away from it.",
    )


class QiskitBackendStatus(ResourceModel):
    """status of a QiskitBackend, refreshed on the ping."""

    model_config = ConfigDict(extra="ignore")

    state: Availability | None = None
    queue_length: int | None = Field(None, ge=0, description="Jobs waiting in its queue.")
    message: str | None = None
    last_refresh_time: datetime | None = None
    observed_generation: int | None = None


class QiskitBackend(ResourceModel):
    """A backend the cluster offers: its family, device, size, price and availability."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["quantum.io/v1"] = "quantum.io/v1"
    kind: Literal["QiskitBackend"] = "QiskitBackend"
    metadata: ObjectMeta
    spec: QiskitBackendSpec
    status: QiskitBackendStatus | None = None

    @property
    def operational(self) -> bool:
        """Whether its last refresh found it available (its declaration, until then)."""
        state = self.status.state if self.status and self.status.state else None
        return (state or self.spec.availability) == "Available"
