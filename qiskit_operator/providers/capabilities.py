"""What a backend family offers, and the check validate makes of a job against it.

Called by validate (after the circuit is measured, so the qubit count is known)
and by the QiskitBackend catalogue. Every shortfall of a job is collected and
refused in one message, so a user fixes them all at once. Imports no Qiskit.
"""

from __future__ import annotations

from dataclasses import dataclass

from qiskit_operator.errors import UserError

REFUSED = "ExceedsBackendCapabilities"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What one backend runs: the family and device it describes, and its limits."""

    family: str
    device: str
    primitives: frozenset[str]
    noise_models: bool
    """Whether spec.backend.noiseModel may add a simulated device's noise."""
    sweeps: bool
    """Whether execution.parameterValues may bind a circuit's parameters."""
    max_shots: int
    max_qubits: int | None
    """None: only the service's own limit (QOP_MAX_QUBITS) applies."""
    note: str = ""
    """How it runs, where that is not obvious (a device snapshot simulated locally)."""


@dataclass(frozen=True, slots=True)
class Ask:
    """What a job asks of its backend."""

    primitive: str
    noise_model: str | None
    swept: bool
    shots: int
    qubits: int


def shortfalls(offered: Capabilities, ask: Ask) -> list[str]:
    """What `ask` wants that `offered` does not give, each saying what to change."""
    where = f"{offered.device} ({offered.family})"
    problems: list[str] = []
    if ask.primitive not in offered.primitives:
        kinds = " or ".join(sorted(offered.primitives))
        problems.append(
            f"{where} runs the {kinds}, not the {ask.primitive}; set execution.primitive to {kinds}"
        )
    if ask.noise_model is not None and not offered.noise_models:
        problems.append(
            f"{where} takes no backend.noiseModel (a device has its own noise); remove it, "
            "or use backend.type local_simulator"
        )
    if ask.swept and not offered.sweeps:
        problems.append(
            f"{where} runs no parameter sweeps; remove execution.parameterValues and bind "
            "the parameters in the circuit, or use another backend"
        )
    if ask.shots > offered.max_shots:
        problems.append(
            f"{where} runs at most {offered.max_shots} shots, not {ask.shots}; lower "
            "execution.shots"
        )
    if offered.max_qubits is not None and ask.qubits > offered.max_qubits:
        problems.append(
            f"{where} has {offered.max_qubits} qubits but the circuit has {ask.qubits}; "
            "use a larger backend or a smaller circuit"
        )
    return problems


def check(offered: Capabilities, ask: Ask) -> None:
    """UserError (reason ExceedsBackendCapabilities) naming every shortfall, if any."""
    problems = shortfalls(offered, ask)
    if problems:
        raise UserError("; ".join(problems), reason=REFUSED)
