"""Aer noise models taken from device-like backends, by name (readout error included).

Called by `AerRunner`, which keeps the models it built in a bounded cache: a
model costs time and memory that grow with the square of its backend's qubits,
so one above QOP_MAX_NOISE_MODEL_QUBITS is refused before it is built.
"""

from __future__ import annotations

from qiskit_aer.noise import NoiseModel

from qiskit_operator.circuits.backends import noise_device


def build_noise_model(name: str, max_qubits: int) -> NoiseModel:
    """The noise of `name` (generic_backend_<N>q or a fake device); UserError if unknown
    or larger than `max_qubits`."""
    return NoiseModel.from_backend(noise_device(name, max_qubits))
