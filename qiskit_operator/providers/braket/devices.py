"""What the Braket family offers: validate's half, loadable without Qiskit Aer
and without importing Braket's SDK (seconds), only checking that it is there."""

from __future__ import annotations

from qiskit_operator.errors import UserError
from qiskit_operator.providers.capabilities import Capabilities
from qiskit_operator.providers.extras import ensure_installed

LOCAL = "braket_local"
LOCAL_QUBITS = 26
"""What BraketLocalBackend reports for its state-vector simulator."""
MAX_SHOTS = 100_000
CAPABILITIES = Capabilities(
    family="braket",
    device=LOCAL,
    primitives=frozenset({"sampler"}),
    noise_models=False,
    sweeps=False,
    max_shots=MAX_SHOTS,
    max_qubits=LOCAL_QUBITS,
    note="Amazon Braket's local simulator, on execute's machine",
)


def capabilities(name: str | None) -> Capabilities:
    ensure_installed("qiskit_braket_provider", "braket", "backend.type aws_braket")
    if name not in (None, LOCAL):
        raise UserError(
            f"backend.name {name} is an Amazon Braket device; this cluster runs Braket's "
            f"local simulator only: leave backend.name out, or write {LOCAL}",
            reason="UnsupportedBackend",
        )
    return CAPABILITIES
