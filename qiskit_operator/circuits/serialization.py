"""QPY in and out, and the canonical form a circuit's hash is taken from."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io

from qiskit import QuantumCircuit, qpy

from qiskit_operator.circuits.declarations import DEFAULT_LIMITS, SizeLimits, check_qpy
from qiskit_operator.circuits.expansion import check_expansion
from qiskit_operator.errors import UserError


def to_qpy(circuit: QuantumCircuit) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return buffer.getvalue()


def from_qpy(data: bytes, limits: SizeLimits = DEFAULT_LIMITS) -> list[QuantumCircuit]:
    """The circuits in QPY data: refused before reading if their headers declare more
    than `limits`, and after reading if they unroll to more (`expansion`)."""
    check_qpy(data, limits)
    try:
        loaded = qpy.load(io.BytesIO(data))
    except Exception as error:  # QPY raises several unrelated types on corrupt input
        raise UserError(f"the QPY data could not be read: {error}", reason="InvalidQPY") from error
    circuits = [c for c in loaded if isinstance(c, QuantumCircuit)]
    for circuit in circuits:
        check_expansion(circuit, limits)
    return circuits


def from_qpy_base64(text: str, limits: SizeLimits = DEFAULT_LIMITS) -> list[QuantumCircuit]:
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as error:
        raise UserError(
            "circuit.format is qpy but circuit.code is not valid base64; "
            "encode the .qpy file with `base64 -w0 circuit.qpy`",
            reason="InvalidQPY",
        ) from error
    return from_qpy(data, limits)


def canonical(circuit: QuantumCircuit) -> QuantumCircuit:
    """The same circuit with the parts that do not change what it computes removed,
    so the same circuit written two ways (Python, QASM) hashes the same."""
    copy = circuit.copy(name="circuit")
    copy.metadata = {}
    return copy


def canonical_qpy(circuit: QuantumCircuit) -> tuple[bytes, str]:
    """The canonical QPY bytes and their sha256, hex."""
    data = to_qpy(canonical(circuit))
    return data, hashlib.sha256(data).hexdigest()
