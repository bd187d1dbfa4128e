"""Parses OpenQASM 3 inside a sandbox child, under the child's limits.

Runs only in a child (`zygote`), for `SandboxPool.parse_qasm3`. Qiskit's OpenQASM 3
reader is written in Python on ANTLR: its time and memory grow with what a source
asks for in ways no scan ahead of it can bound, so it runs where the kernel bounds
them (CPU and address-space rlimits, the pool's deadline) and a runaway parse costs
one child, not the server. The source is ours to parse, not a program to run, so
the Python guard stays off; seccomp and Landlock stay on.
"""

from __future__ import annotations

from typing import Any

from qiskit_operator.circuits.qasm import parse_qasm3
from qiskit_operator.circuits.serialization import to_qpy
from qiskit_operator.errors import UserError

# Run once in the zygote, so that every child inherits the parser's modules and tables.
WARM_UP = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
    "h q[0];\ncx q[0], q[1];\nc = measure q;\n"
)


def parse(source: str) -> list[Any]:
    """["ok", qpy, "circuit", []] or ["error", reason, message, line], as `program.run_program`."""
    try:
        circuit = parse_qasm3(source)
    except UserError as error:
        return ["error", error.reason, error.message, error.line]
    except MemoryError:
        message = (
            "parsing the OpenQASM 3 source ran out of the memory the sandbox allows "
            "(QOP_SANDBOX_MEMORY_MB); send a smaller circuit"
        )
        return ["error", "MemoryLimit", message, None]
    return ["ok", to_qpy(circuit), "circuit", []]
