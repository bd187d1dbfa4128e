"""Reading simple circuit programs without running them.

A program made only of `from qiskit import QuantumCircuit`, circuits built with
literal sizes, gate calls whose arguments are numbers, lists, `range(...)`,
`pi` and loop variables, and `for` loops over `range`, is read from its syntax
tree and the same circuit is built here directly: no process, no fork. Anything
else (another name, call, attribute, keyword or statement) goes to the sandbox,
and so does anything that fails here, so that the sandbox has the last word on
errors. Bell and GHZ written the usual way take this path; validating them
costs what OpenQASM does.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from qiskit import QuantumCircuit

GATES = frozenset(
    {
        "id",
        "x",
        "y",
        "z",
        "h",
        "s",
        "sdg",
        "t",
        "tdg",
        "sx",
        "sxdg",
        "rx",
        "ry",
        "rz",
        "p",
        "u",
        "r",
        "cx",
        "cy",
        "cz",
        "ch",
        "cs",
        "csdg",
        "csx",
        "swap",
        "iswap",
        "ecr",
        "dcx",
        "cp",
        "crx",
        "cry",
        "crz",
        "cu",
        "rxx",
        "ryy",
        "rzz",
        "rzx",
        "ccx",
        "ccz",
        "cswap",
        "mcx",
        "measure",
        "measure_all",
        "barrier",
        "reset",
    }
)
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_MAX_STEPS = 100_000  # gate calls and loop turns together
_MAX_INSTRUCTIONS = 200_000  # per circuit: bigger ones are built in the sandbox, under its limits
_RESERVED = frozenset({"QuantumCircuit", "range", "pi"})
_MAX_RANGE = 10_000


class NeedsRunningError(Exception):
    """The program needs running: the sandbox takes it."""


class _Reader:
    def __init__(self, max_qubits: int) -> None:
        self.max_qubits = max_qubits
        self.circuits: dict[str, QuantumCircuit] = {}
        self.numbers: dict[str, float | int] = {}  # pi, and loop variables
        self.modules: set[str] = set()  # math / numpy names that may give .pi
        self.steps = 0
        self.have_circuit_class = False  # QuantumCircuit exists only once it is imported

    def statements(self, body: list[ast.stmt]) -> None:
        for statement in body:
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            for alias in node.names:
                if (node.module, alias.name) == ("qiskit", "QuantumCircuit") and not alias.asname:
                    self.have_circuit_class = True
                    continue
                if node.module in ("math", "numpy") and alias.name == "pi":
                    self.numbers[alias.asname or "pi"] = math.pi
                    continue
                raise NeedsRunningError(f"import of {node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ("math", "numpy"):
                    raise NeedsRunningError(f"import of {alias.name}")
                self.modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Assign):
            self.assign(node)
        elif isinstance(node, ast.Expr):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return  # a docstring
            self.gate(node.value)
        elif isinstance(node, ast.For):
            self.loop(node)
        elif not isinstance(node, ast.Pass):
            raise NeedsRunningError(type(node).__name__)

    def assign(self, node: ast.Assign) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            raise NeedsRunningError("assignment")
        value = node.value
        if not self.have_circuit_class:
            raise NeedsRunningError("QuantumCircuit used before it is imported")
        if not (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "QuantumCircuit"
            and not value.keywords
        ):
            raise NeedsRunningError("assignment of something other than a QuantumCircuit")
        sizes = [self.value(arg) for arg in value.args]
        if not (1 <= len(sizes) <= 2) or not all(isinstance(s, int) and s >= 0 for s in sizes):
            raise NeedsRunningError("QuantumCircuit sizes")
        if sizes[0] > self.max_qubits:
            raise NeedsRunningError("too many qubits: the sandbox reports it")
        name = node.targets[0].id
        if name in self.numbers or name in self.modules or name in _RESERVED:
            raise NeedsRunningError("a name reused")
        self.circuits[name] = QuantumCircuit(*sizes)

    def gate(self, node: ast.expr) -> None:
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.attr in GATES
            and node.func.value.id in self.circuits
            and not node.keywords
        ):
            raise NeedsRunningError("a call other than a gate on a circuit")
        self.step()
        circuit = self.circuits[node.func.value.id]
        getattr(circuit, node.func.attr)(*(self.value(arg) for arg in node.args))
        if len(circuit.data) > _MAX_INSTRUCTIONS:
            raise NeedsRunningError("a large circuit: the sandbox builds it, under its limits")

    def loop(self, node: ast.For) -> None:
        if node.orelse or not isinstance(node.target, ast.Name):
            raise NeedsRunningError("a loop other than for NAME in range(...)")
        values = self.value(node.iter)
        if not isinstance(values, range):
            raise NeedsRunningError("a loop over something other than range(...)")
        name = node.target.id
        if name in self.circuits or name in self.modules or name in _RESERVED:
            raise NeedsRunningError("a name reused")
        for value in values:
            self.step()
            self.numbers[name] = value
            self.statements(node.body)

    def step(self) -> None:
        self.steps += 1
        if self.steps > _MAX_STEPS:
            raise NeedsRunningError("too long to read: the sandbox runs it")

    def value(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.Name) and node.id in self.numbers:
            return self.numbers[node.id]
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "pi"
            and isinstance(node.value, ast.Name)
            and node.value.id in self.modules
        ):
            return math.pi
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.value(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](self.value(node.left), self.value(node.right))
        if isinstance(node, ast.List | ast.Tuple):
            return [self.value(element) for element in node.elts]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "range"
            and not node.keywords
            and 1 <= len(node.args) <= 3
        ):
            bounds = [self.value(arg) for arg in node.args]
            if not all(isinstance(b, int) for b in bounds):
                raise NeedsRunningError("range of non-integers")
            values = range(*bounds)
            if len(values) > _MAX_RANGE:
                raise NeedsRunningError("a long range: the sandbox runs it")
            return values
        raise NeedsRunningError(f"an expression: {ast.dump(node)[:40]}")


def read(
    code: str, variable: str | None, max_qubits: int
) -> tuple[QuantumCircuit, str, list[str]] | None:
    """(circuit, its variable, every circuit's name), or None when it needs running."""
    try:
        tree = ast.parse(code)
        reader = _Reader(max_qubits)
        reader.statements(tree.body)
    except (NeedsRunningError, SyntaxError, RecursionError):
        return None
    except Exception:  # Qiskit refused a call: the sandbox reports it with its line
        return None
    names = list(reader.circuits)
    if variable is not None:
        chosen = variable if variable in reader.circuits else None
    else:
        chosen = next(
            (n for n in ("qc", "circuit") if n in reader.circuits), names[-1] if names else None
        )
    if chosen is None:
        return None
    return reader.circuits[chosen], chosen, names
