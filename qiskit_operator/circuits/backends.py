"""The backends a circuit can be checked against: Aer, and device-like targets.

`aer_simulator` (or `aer`, `local_simulator`) is Qiskit Aer. A device-like
backend is `generic_backend_<N>q` (Qiskit's GenericBackendV2 with N qubits, a
fixed seed) or, when qiskit-ibm-runtime is installed, a fake device such as
`fake_manila`. For those, validate reports what the circuit becomes after
transpiling for the device: its basis gates, depth and coupling.

Each name has one spelling (`generic_backend_0127q` is refused, with the right
one), so one device is one entry of the bounded cache of built devices: a 127
qubit GenericBackendV2 holds about 8 MiB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qiskit import QuantumCircuit, transpile
from qiskit.providers import BackendV2
from qiskit.providers.fake_provider import GenericBackendV2

from qiskit_operator.caches import BoundedCache
from qiskit_operator.errors import UserError

AER_NAMES = frozenset({"aer_simulator", "aer", "local_simulator", "qasm_simulator"})
_GENERIC = re.compile(r"^generic_backend_(\d+)q$")
_FAKE = re.compile(r"^fake_[a-z0-9]+(?:_[a-z0-9]+)*$")
_MIN_GENERIC_QUBITS = 2  # GenericBackendV2 needs two qubits to couple
_MAX_GENERIC_QUBITS = 127
_DEVICES: BoundedCache[str, BackendV2] = BoundedCache("backends", max_entries=8)


@dataclass(frozen=True, slots=True)
class DeviceFit:
    backend: str
    num_qubits: int
    basis_gates: list[str]
    transpiled_depth: int
    transpiled_gate_types: dict[str, int]
    coupling_map_edges: int
    transpiled_two_qubit_gates: int = 0


def is_aer(name: str | None) -> bool:
    return name is None or name in AER_NAMES


def canonical_name(name: str) -> str:
    """`name` if it is the one spelling of a device-like backend; UserError naming the
    spelling to use for another (leading zeros, capitals), or for an unknown name."""
    match = _GENERIC.match(name.lower())
    if match:
        canonical = f"generic_backend_{match.group(1).lstrip('0') or '0'}q"
        if canonical != name:
            raise UserError(
                f"backend {name!r} is spelled {canonical!r}: write the qubit count without "
                "leading zeros, in lower case",
                reason="UnknownBackend",
            )
        return name
    if name.lower().startswith("fake_"):
        if not _FAKE.match(name):
            raise UserError(
                f"fake device {name!r} is spelled in lower case with single underscores, "
                f"e.g. {re.sub(r'_+', '_', name.lower())!r}",
                reason="UnknownBackend",
            )
        return name
    raise UserError(
        f"backend {name!r} is not known; use aer_simulator, generic_backend_<N>q "
        "(e.g. generic_backend_5q) or a fake device such as fake_manila",
        reason="UnknownBackend",
    )


def device(name: str) -> BackendV2:
    """The device-like backend `name`, built once while it stays in the cache."""
    canonical = canonical_name(name)
    return _DEVICES.get(canonical, lambda: _build(canonical))


def noise_device(name: str, max_qubits: int) -> BackendV2:
    """The backend whose noise model `name` names, if a noise model of its size may be
    built: one takes time and memory that grow with the square of its qubits (about
    10 s and 140 MiB for 33 qubits, 81 s and 1.5 GiB for 127)."""
    backend = device(name)
    if backend.num_qubits > max_qubits:
        raise UserError(
            f"the noise model of {name} would cover {backend.num_qubits} qubits; this service "
            f"builds noise models of at most {max_qubits} qubits (QOP_MAX_NOISE_MODEL_QUBITS): "
            f"use a smaller backend such as generic_backend_{max_qubits}q",
            reason="NoiseModelTooLarge",
        )
    return backend


def _build(name: str) -> BackendV2:
    match = _GENERIC.match(name)
    if match:
        digits = match.group(1)
        qubits = int(digits) if len(digits) <= 4 else _MAX_GENERIC_QUBITS + 1
        if not _MIN_GENERIC_QUBITS <= qubits <= _MAX_GENERIC_QUBITS:
            raise UserError(
                f"generic backends have {_MIN_GENERIC_QUBITS} to {_MAX_GENERIC_QUBITS} qubits, "
                f"not {qubits}",
                reason="UnknownBackend",
            )
        return GenericBackendV2(num_qubits=qubits, seed=1234)
    return _fake_device(name)


def _fake_device(name: str) -> BackendV2:
    try:
        from qiskit_ibm_runtime import fake_provider
    except ImportError as error:
        raise UserError(
            f"fake devices such as {name} need qiskit-ibm-runtime, which this "
            "service does not have; use generic_backend_<N>q",
            reason="UnknownBackend",
        ) from error
    class_name = "Fake" + name.removeprefix("fake_").title().replace("_", "") + "V2"
    factory = getattr(fake_provider, class_name, None)
    if factory is None:
        raise UserError(f"qiskit-ibm-runtime has no fake device {name!r}", reason="UnknownBackend")
    backend: BackendV2 = factory()
    return backend


def fit_device(circuit: QuantumCircuit, name: str, optimization_level: int) -> DeviceFit:
    backend = device(name)
    if circuit.num_qubits > backend.num_qubits:
        raise UserError(
            f"the circuit has {circuit.num_qubits} qubits but {name} has {backend.num_qubits}",
            reason="TooManyQubits",
        )
    compiled = transpile(circuit, backend, optimization_level=optimization_level, seed_transpiler=7)
    coupling = backend.coupling_map
    return DeviceFit(
        backend=name,
        num_qubits=backend.num_qubits,
        basis_gates=sorted(backend.operation_names),
        transpiled_depth=compiled.depth(),
        transpiled_gate_types={k: int(v) for k, v in sorted(compiled.count_ops().items())},
        coupling_map_edges=len(coupling.get_edges()) if coupling is not None else 0,
        transpiled_two_qubit_gates=sum(
            1
            for instruction in compiled.data
            if instruction.operation.num_qubits == 2 and instruction.operation.name != "barrier"
        ),
    )
