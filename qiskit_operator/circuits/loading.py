"""From a job's `spec.circuit` to one QuantumCircuit, whatever its format.

Called by the validate handler and by `qop validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qiskit import QuantumCircuit

from qiskit_operator.circuits import straightline
from qiskit_operator.circuits.declarations import DEFAULT_LIMITS, SizeLimits
from qiskit_operator.circuits.formats import detect_format
from qiskit_operator.circuits.qasm import check_qasm3, load_qasm2, too_deep
from qiskit_operator.circuits.serialization import from_qpy, from_qpy_base64
from qiskit_operator.errors import UserError
from qiskit_operator.models.spec import CircuitFormat
from qiskit_operator.sandbox.pool import SandboxPool


@dataclass(frozen=True, slots=True)
class LoadedCircuit:
    circuit: QuantumCircuit
    format: CircuitFormat
    variable: str | None = None
    circuits: list[str] = field(default_factory=list)


def load_source(
    code: str,
    fmt: CircuitFormat | None,
    sandbox: SandboxPool,
    variable: str | None = None,
    limits: SizeLimits = DEFAULT_LIMITS,
) -> LoadedCircuit:
    if not code.strip():
        raise UserError("circuit.code is empty; put the circuit there", reason="EmptyCircuit")
    fmt = fmt or detect_format(code)
    if fmt == "qasm2":
        return LoadedCircuit(load_qasm2(code, limits), fmt)
    if fmt == "qasm3":
        # Its parser has no bound of its own: it runs in a sandbox child (`parsing`).
        check_qasm3(code, limits)
        return _first(from_qpy(sandbox.parse_qasm3(code), limits), fmt)
    if fmt == "qpy":
        return _first(from_qpy_base64(code, limits), fmt)
    return _load_python(code, sandbox, variable, limits)


def _load_python(
    code: str, sandbox: SandboxPool, variable: str | None, limits: SizeLimits
) -> LoadedCircuit:
    # Compiling does not run anything: a syntax error is found here, in the
    # server, without spending a sandbox child on it.
    try:
        compile(code, "<circuit>", "exec")
    except SyntaxError as error:
        raise UserError(
            f"Python syntax error at line {error.lineno}: {error.msg}",
            reason="SyntaxError",
            line=error.lineno,
        ) from error
    except (RecursionError, MemoryError) as error:
        # CPython's compiler gives up on deep nesting with one or the other.
        raise too_deep("Python") from error
    read = straightline.read(code, variable, limits.max_qubits)
    if read is not None:  # nothing in it needs running (see `straightline`)
        circuit, chosen, names = read
        return LoadedCircuit(circuit, "python", chosen, names)
    result = sandbox.run(code, variable)
    loaded = _first(from_qpy(result.qpy, limits), "python")
    return LoadedCircuit(loaded.circuit, "python", result.variable, result.circuits)


def _first(circuits: list[QuantumCircuit], fmt: CircuitFormat) -> LoadedCircuit:
    if not circuits:
        raise UserError("the QPY data holds no circuit", reason="NoCircuit")
    return LoadedCircuit(circuits[0], fmt)
