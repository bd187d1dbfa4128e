"""The IBM devices a job may name, and what each offers: validate's half of the
family, loadable without Qiskit Aer (the validate image has none)."""

from __future__ import annotations

from qiskit.providers import BackendV2

from qiskit_operator.circuits import backends
from qiskit_operator.errors import UserError
from qiskit_operator.providers.capabilities import Capabilities
from qiskit_operator.providers.extras import require

MAX_SHOTS = 100_000
"""Qiskit Runtime's limit on shots of one sampler job."""
LOCAL_MODE = "device snapshot simulated locally (Qiskit Runtime local testing mode)"


def fake_device(name: str | None, backend_type: str) -> BackendV2:
    """The device snapshot `name` names; UserError saying what to write otherwise."""
    require("qiskit_ibm_runtime", "ibm", f"backend.type {backend_type}")
    if name is None:
        raise UserError(
            f"backend.type {backend_type} needs backend.name: a device snapshot such as "
            "fake_manila or fake_sherbrooke",
            reason="UnknownBackend",
        )
    if not name.startswith("fake_"):
        raise UserError(
            f"backend.name {name} is a real IBM Quantum device; this cluster runs IBM devices "
            "as snapshots simulated locally only: use its snapshot, e.g. fake_"
            f"{name.removeprefix('ibm_')} (backend.type ibm_simulator)",
            reason="UnsupportedBackend",
        )
    return backends.device(name)


def capabilities(name: str | None, backend_type: str) -> Capabilities:
    device = fake_device(name, backend_type)
    return Capabilities(
        family="ibm_runtime",
        device=str(name),
        primitives=frozenset({"sampler", "estimator"}),
        noise_models=False,
        sweeps=True,
        max_shots=MAX_SHOTS,
        max_qubits=int(device.num_qubits),
        note=LOCAL_MODE,
    )
