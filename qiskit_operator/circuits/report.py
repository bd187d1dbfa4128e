"""Everything validate says about one loaded circuit, and the limits it enforces.

Shared by the event path (a QiskitJob) and the HTTP API (`POST /validate`),
so both refuse the same circuits with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qiskit_operator.circuits.analysis import MethodPlan, plan, smallest_fitting_method
from qiskit_operator.circuits.backends import DeviceFit, fit_device, is_aer, noise_device
from qiskit_operator.circuits.loading import LoadedCircuit
from qiskit_operator.circuits.serialization import canonical_qpy
from qiskit_operator.circuits.summary import summarise
from qiskit_operator.errors import UserError
from qiskit_operator.events.payloads import CircuitSummary
from qiskit_operator.models.spec import CircuitFormat
from qiskit_operator.settings import LimitSettings

AER = "aer_simulator"


@dataclass(frozen=True, slots=True)
class CircuitReport:
    format: CircuitFormat
    variable: str | None
    circuits: list[str]
    qpy: bytes
    summary: CircuitSummary
    plan: MethodPlan
    backend: str
    device: DeviceFit | None = None
    warnings: list[str] = field(default_factory=list)


def check_circuit(
    loaded: LoadedCircuit,
    *,
    backend: str | None,
    method: str | None,
    optimization_level: int,
    shots: int,
    limits: LimitSettings,
    noise_model: str | None = None,
) -> CircuitReport:
    """Measure the circuit and hold it against the limits; UserError says what is over."""
    circuit = loaded.circuit
    if len(loaded.circuits) > limits.max_circuits:
        raise UserError(
            f"the program builds {len(loaded.circuits)} circuits; the limit is "
            f"{limits.max_circuits}",
            reason="TooManyCircuits",
        )
    if circuit.num_qubits > limits.max_qubits:
        raise UserError(
            f"the circuit has {circuit.num_qubits} qubits; at most {limits.max_qubits} are "
            "allowed (QOP_MAX_QUBITS)",
            reason="TooManyQubits",
        )
    if circuit.num_clbits > limits.max_clbits:
        raise UserError(
            f"the circuit has {circuit.num_clbits} classical bits; at most "
            f"{limits.max_clbits} are allowed (QOP_MAX_CLBITS)",
            reason="TooManyClbits",
        )
    qpy_bytes, circuit_hash = canonical_qpy(circuit)
    summary = summarise(circuit, circuit_hash)
    if summary.depth > limits.max_depth:
        raise UserError(
            f"the circuit's depth is {summary.depth}; the limit is {limits.max_depth}",
            reason="TooDeep",
        )
    chosen = plan(
        circuit,
        method,
        limits.simulation_memory_bytes,
        shots,
        summary.two_qubit_gates,
        noisy=noise_model is not None,
    )
    if chosen.memory_bytes > limits.simulation_memory_bytes:
        raise UserError(
            _memory_message(loaded, chosen, limits, summary.two_qubit_gates),
            reason="TooLargeForMemory",
        )
    device = None if is_aer(backend) else fit_device(circuit, str(backend), optimization_level)
    if noise_model is not None:
        noisy_device = noise_device(noise_model, limits.max_noise_model_qubits)
        if circuit.num_qubits > noisy_device.num_qubits:
            raise UserError(
                f"the circuit has {circuit.num_qubits} qubits but the noise model "
                f"{noise_model} covers {noisy_device.num_qubits}",
                reason="TooManyQubits",
            )
    return CircuitReport(
        format=loaded.format,
        variable=loaded.variable,
        circuits=loaded.circuits,
        qpy=qpy_bytes,
        summary=summary,
        plan=chosen,
        backend=AER if is_aer(backend) else str(backend),
        device=device,
        warnings=_warnings(loaded, summary),
    )


def _memory_message(
    loaded: LoadedCircuit, chosen: MethodPlan, limits: LimitSettings, two_qubit_gates: int
) -> str:
    qubits = loaded.circuit.num_qubits
    message = (
        f"{qubits} qubits with the {chosen.method} method need "
        f"{_size(chosen.memory_bytes)}; the limit is "
        f"{_size(limits.simulation_memory_bytes)}"
    )
    alternative = smallest_fitting_method(
        loaded.circuit, limits.simulation_memory_bytes, two_qubit_gates
    )
    if alternative and alternative != chosen.method:
        return f"{message}; set spec.backend.method: {alternative}, which fits"
    return f"{message}; use fewer qubits"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024 or unit == "PiB":
            break
    return f"{value:.1f} {unit}"


def _warnings(loaded: LoadedCircuit, summary: CircuitSummary) -> list[str]:
    warnings = []
    if summary.clbits == 0 or "measure" not in summary.gate_types:
        warnings.append(
            "the circuit measures nothing, so a sampler returns no counts; "
            "add measurements (e.g. qc.measure_all())"
        )
    if summary.parameters:
        warnings.append(
            f"the circuit has unbound parameters ({', '.join(summary.parameters)}); "
            "give their values in spec.execution.parameterValues"
        )
    if len(loaded.circuits) > 1:
        warnings.append(
            f"the program builds {len(loaded.circuits)} circuits "
            f"({', '.join(loaded.circuits)}); {loaded.variable} is the one used"
        )
    return warnings
