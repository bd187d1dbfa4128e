"""The Aer family: Qiskit Aer on execute's own machine, as every job ran before
there were families. The simulation itself is `execution.aer.AerRunner`,
unchanged; this module states what it offers and adapts it to the interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qiskit_operator.providers.capabilities import Capabilities

if TYPE_CHECKING:  # validate reads CAPABILITIES, and its image has no Qiskit Aer
    from qiskit_operator.caches import CacheCounts
    from qiskit_operator.execution.aer import AerRunner, Outcome, Workload
    from qiskit_operator.execution.progress import ProgressReport

CAPABILITIES = Capabilities(
    family="aer",
    device="aer_simulator",
    primitives=frozenset({"sampler", "estimator"}),
    noise_models=True,
    sweeps=True,
    max_shots=100_000,  # spec.execution.shots' own bound
    max_qubits=None,  # QOP_MAX_QUBITS and the method's memory decide
)


class AerProvider:
    def __init__(self, runner: AerRunner) -> None:
        self.runner = runner

    def run(self, work: Workload, progress: ProgressReport | None = None) -> Outcome:
        return self.runner.run(work, progress)

    def cache_counts(self) -> list[CacheCounts]:
        return self.runner.cache_counts()

    def prepare(self) -> None:
        """Nothing to do before the worker confines itself."""
