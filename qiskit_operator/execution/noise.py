"""Aer noise models taken from device-like backends, by name (readout error included)."""

from __future__ import annotations

from functools import cache

from qiskit_aer.noise import NoiseModel

from qiskit_operator.circuits.backends import device


@cache
def noise_model(name: str) -> NoiseModel:
    """The noise of `name` (generic_backend_<N>q or a fake device); UserError if unknown."""
    return NoiseModel.from_backend(device(name))
