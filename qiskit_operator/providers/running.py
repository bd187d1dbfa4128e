"""Runs a workload on the family it names: the one entry point of execution.

Used by execute (in its own process, `qop run`) and by the simulation worker
(on a cluster, where QPY is loaded only in the confined worker). Aer's runner is
given, with its caches; the other families are built on first use, so a
service that runs only Aer never imports their SDKs.
"""

from __future__ import annotations

from typing import Protocol

from qiskit_operator.caches import CacheCounts
from qiskit_operator.errors import UserError
from qiskit_operator.execution.aer import AerRunner, Outcome, Workload
from qiskit_operator.execution.progress import ProgressReport
from qiskit_operator.providers.aer import AerProvider

PREPARED_BEFORE_CONFINEMENT = frozenset({"braket"})
"""Families that must run once before the worker confines itself: Braket's simulator
compiles its kernels with numba on first use, into a cache it must be able to write."""


class Provider(Protocol):
    """A backend family's way to run a workload; UserError for what the job got wrong.
    `progress`, where given, hears how much of a sweep is done, from a family that can
    tell (Aer's); the others run the sweep whole and say nothing until its end."""

    def run(self, work: Workload, progress: ProgressReport | None = None) -> Outcome: ...

    def cache_counts(self) -> list[CacheCounts]: ...

    def prepare(self) -> None:
        """Do, while files may still be written, what its first run would need to write."""


class ProviderRunner:
    def __init__(self, aer: AerRunner) -> None:
        self._providers: dict[str, Provider] = {"aer": AerProvider(aer)}

    def run(self, work: Workload, progress: ProgressReport | None = None) -> Outcome:
        return self.provider(work.family).run(work, progress)

    def provider(self, family: str) -> Provider:
        found = self._providers.get(family)
        if found is None:
            found = self._providers[family] = _build(family)
        return found

    def prepare(self, family: str) -> None:
        self.provider(family).prepare()

    def cache_counts(self) -> list[CacheCounts]:
        return [counts for p in self._providers.values() for counts in p.cache_counts()]


def _build(family: str) -> Provider:
    if family == "ibm_runtime":
        from qiskit_operator.providers.ibm_runtime.runtime import IBMRuntimeProvider

        return IBMRuntimeProvider()
    if family == "braket":
        from qiskit_operator.providers.braket.local import BraketProvider

        return BraketProvider()
    raise UserError(
        f"backend family {family!r} is not known; the families are aer, ibm_runtime and braket",
        reason="UnsupportedBackend",
    )
