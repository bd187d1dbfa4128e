"""How much work a parsed circuit asks for once its gates and loops are unrolled.

Called by `qasm.load_qasm2` and `serialization.from_qpy` (so for every format, in
validate, the admission webhook, `qop validate` and execute's worker), right after
a circuit is read and before anything expands it. A parser keeps a user-defined
gate as one instruction that points at its definition, and a loop as one
instruction that holds its body: sixty lines of `gate g{n} a { g{n-1} a; g{n-1} a; }`
read in milliseconds, and the first transpile unrolls 2**60 gates. So the count
is taken here, over the definitions and loop bodies, each definition object counted
once, and stopped as soon as it passes the limit or has visited more operations than
twice the limit: the walk's cost is bounded whatever the circuit.

What counts as one instruction: a gate Qiskit knows by class (standard gates and
the library's; the simulator runs or synthesises those by their size, which the
qubit limit bounds), a measurement, a reset, a barrier. A user-defined gate is
the sum of its definition. A `for` loop is its body times its iterations; `while`
loops count their body once (how often they run is known only when they run, and
execute's time limit bounds that); each branch of an `if` or `switch` counts.
"""

from __future__ import annotations

from collections.abc import Iterable

from qiskit import QuantumCircuit
from qiskit.circuit import ControlFlowOp, ForLoopOp, Instruction
from qiskit.circuit.library import get_standard_gate_name_mapping

from qiskit_operator.circuits.declarations import SizeLimits
from qiskit_operator.errors import UserError

# Gates whose class lives here are Qiskit's own, not a user's definition.
_LIBRARY_MODULES = (
    "qiskit.circuit.library",
    "qiskit.circuit.measure",
    "qiskit.circuit.reset",
    "qiskit.circuit.barrier",
    "qiskit.circuit.delay",
)


_STANDARD = frozenset(get_standard_gate_name_mapping())
_QASM2_GATES = "qiskit.qasm2.parse"


def _is_library(operation: Instruction) -> bool:
    module = getattr(type(operation), "__module__", None) or ""
    return module.startswith(_LIBRARY_MODULES)


class _WalkTooLongError(Exception):
    """The walk has visited more operations than the limit allows instructions."""


class _Walk:
    """One count over a circuit. Definitions are memoised by the object itself (held, so
    that its id is not reused), not by name: a hostile QPY may give one name two
    definitions. OpenQASM 2's gates, which cannot, are known by name, as their reader
    rebuilds a definition on every access. What else is rebuilt, or written out per
    instance as QPY does, is bounded by `visited`: the walk stops once it has visited
    twice as many operations as the limit allows instructions."""

    def __init__(self, limits: SizeLimits) -> None:
        self.limits = limits
        self.defined: dict[int, tuple[QuantumCircuit, int]] = {}
        self.named: dict[str, int] = {}
        self.visited = 0

    def circuit(self, circuit: QuantumCircuit, depth: int) -> int:
        total = 0
        for instruction in circuit.data:
            self.visited += 1
            if self.visited > self.limits.max_instructions * 2:
                raise _WalkTooLongError
            total += self.operation(instruction.operation, depth)
            if total > self.limits.max_instructions:
                return total  # over the limit: the exact figure does not matter
        return total

    def operation(self, operation: Instruction, depth: int) -> int:
        if isinstance(operation, ControlFlowOp):
            inner = sum(self.block(block, depth + 1) for block in operation.blocks)
            if isinstance(operation, ForLoopOp):
                return inner * self.iterations(operation.params[0])
            return inner
        if operation.name in _STANDARD or _is_library(operation):
            return 1
        # OpenQASM 2's reader refuses a second definition of a name, and rebuilds a
        # gate's definition on every access: its gates are known by name.
        named = type(operation).__module__ == _QASM2_GATES
        if named and operation.name in self.named:
            return self.named[operation.name]
        definition = operation.definition
        if definition is None:
            return 1
        known = self.defined.get(id(definition))
        if known is not None:
            return known[1]
        count = self.block(definition, depth + 1)
        self.defined[id(definition)] = (definition, count)
        if named:
            self.named[operation.name] = count
        return count

    def iterations(self, indexset: Iterable[int]) -> int:
        try:
            return len(indexset)  # type: ignore[arg-type]
        except OverflowError:  # a range longer than sys.maxsize
            return self.limits.max_instructions + 1

    def block(self, block: QuantumCircuit, depth: int) -> int:
        if depth > self.limits.max_nesting:
            raise UserError(
                f"the circuit nests gate definitions and control flow more than "
                f"{self.limits.max_nesting} levels deep (QOP_MAX_NESTING); flatten it",
                reason="NestedTooDeeply",
            )
        return self.circuit(block, depth)


def expanded_size(circuit: QuantumCircuit, limits: SizeLimits) -> int:
    """Instructions after unrolling, exact up to just past `limits.max_instructions`."""
    try:
        return _Walk(limits).circuit(circuit, 0)
    except _WalkTooLongError:
        return limits.max_instructions + 1


def check_expansion(circuit: QuantumCircuit, limits: SizeLimits) -> None:
    """Raise `UserError` if the circuit unrolls to more instructions than allowed."""
    size = expanded_size(circuit, limits)
    if size <= limits.max_instructions:
        return
    raise UserError(
        f"the circuit unrolls to more than {limits.max_instructions} instructions "
        f"(gate definitions and loop bodies expanded: {size} or more); at most "
        f"{limits.max_instructions} are allowed (QOP_MAX_INSTRUCTIONS); write fewer "
        "repetitions, or raise the limit",
        reason="TooManyInstructions",
    )
