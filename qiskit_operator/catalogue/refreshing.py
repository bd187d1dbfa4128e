"""A QiskitBackend's status on each ping: what reconcile writes, and where.

Reconcile calls `CatalogueRefresh.refresh` from its resync (the PingSource's
ping, every five minutes). What the status says is decided by `refreshed`, a
pure function: the backends this cluster runs (Aer, device snapshots, Braket's
local simulator) have no queue and are as available as their spec declares, so
their status is static; a real device reads what its provider last said of it
(`DeviceReport`: operational, queue length), and without a report Unavailable,
saying why, so that selection keeps away from it. The backends
come from a `BackendStore`: the Kubernetes API on a cluster (`kube.backends`),
a dictionary on one machine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from qiskit_operator.models.backend import QiskitBackend, QiskitBackendStatus

log = logging.getLogger(__name__)

_LOCAL = {
    "aer": "Qiskit Aer on execute's machine",
    "ibm_runtime": "a device snapshot simulated locally (Qiskit Runtime local testing mode)",
    "braket": "Braket's local simulator on execute's machine",
}


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """What a provider says of one of its devices now (for IBM:
    `providers.ibm_runtime.status.device_report`)."""

    operational: bool
    queue_length: int | None
    message: str


class BackendStore(Protocol):
    def backends(self) -> list[QiskitBackend]: ...

    def write_status(self, backend: QiskitBackend, status: QiskitBackendStatus) -> bool:
        """Write `status`; False when the backend is gone."""
        ...


def runs_locally(backend: QiskitBackend) -> bool:
    """Whether this cluster runs `backend` itself, with no provider to ask."""
    spec = backend.spec
    if spec.family == "aer":
        return True
    if spec.family == "ibm_runtime":
        return spec.device.startswith("fake_")
    return spec.device == "braket_local"


def refreshed(
    backend: QiskitBackend, now: datetime, report: DeviceReport | None = None
) -> QiskitBackendStatus:
    """The status `backend` has now; `report`: what its provider said of a real device."""
    spec = backend.spec
    generation = backend.metadata.generation
    if report is not None and not runs_locally(backend):
        return QiskitBackendStatus(
            # Operational, it is as the administrator declares it (Maintenance holds).
            state=spec.availability if report.operational else "Unavailable",
            queue_length=report.queue_length,
            message=f"{spec.device}, as {spec.family} reports it: {report.message}",
            last_refresh_time=now,
            observed_generation=generation,
        )
    if runs_locally(backend):
        return QiskitBackendStatus(
            state=spec.availability,
            queue_length=0,
            message=f"{_LOCAL[spec.family]}: no queue; state as declared in spec.availability",
            last_refresh_time=now,
            observed_generation=generation,
        )
    return QiskitBackendStatus(
        state="Unavailable",
        queue_length=None,
        message=f"{spec.device} is a {spec.family} device this cluster cannot reach yet: "
        "only local modes run (device snapshots, Braket's local simulator)",
        last_refresh_time=now,
        observed_generation=generation,
    )


class CatalogueRefresh:
    def __init__(self, store: BackendStore) -> None:
        self.store = store

    def refresh(self, now: datetime) -> list[str]:
        """Write every backend's status as of `now`; return the names written."""
        written = []
        for backend in self.store.backends():
            if self.store.write_status(backend, refreshed(backend, now)):
                written.append(backend.metadata.name)
        log.info("refreshed %d backends", len(written))
        return written


class MemoryBackends:
    """Backends kept in a dictionary, for one machine and for tests."""

    def __init__(self, backends: list[QiskitBackend] | None = None) -> None:
        self.items = {b.metadata.name: b for b in backends or []}

    def backends(self) -> list[QiskitBackend]:
        return [b.model_copy(deep=True) for b in self.items.values()]

    def write_status(self, backend: QiskitBackend, status: QiskitBackendStatus) -> bool:
        name = backend.metadata.name
        if name not in self.items:
            return False
        self.items[name] = self.items[name].model_copy(update={"status": status})
        return True
