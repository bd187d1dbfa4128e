"""Runs one user circuit program and finds the circuit it built.

Runs only inside a sandbox child (see `zygote`), never in a server process.
"""

from __future__ import annotations

import builtins
import functools
import io
import traceback
from collections.abc import Callable
from typing import Any

from qiskit import QuantumCircuit, qpy

FILENAME = "<circuit>"

ALLOWED_MODULES = frozenset(
    {
        "qiskit",
        "math",
        "cmath",
        "numpy",
        "random",
        "itertools",
        "functools",
        "fractions",
        "collections",
        "typing",
        "dataclasses",
        "operator",
        "statistics",
        "decimal",
        "numbers",
        "enum",
        "string",
        "re",
        "copy",
        "__future__",
    }
)

_REMOVED_BUILTINS = (
    "open",
    "exec",
    "eval",
    "compile",
    "input",
    "breakpoint",
    "help",
    "exit",
    "quit",
    "__import__",
)


def _limited_import(
    name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
) -> Any:
    top = name.split(".", 1)[0]
    if level != 0 or top not in ALLOWED_MODULES:
        raise ImportError(
            f"import of {name!r} is not allowed in a circuit; allowed: "
            + ", ".join(sorted(ALLOWED_MODULES))
        )
    return builtins.__import__(name, globals, locals, fromlist, level)


@functools.cache
def _safe_builtins() -> dict[str, Any]:
    # Built once, in the zygote's warm-up: a child uses its copy-on-write copy as is.
    # Copying it in each child touched every builtin's reference count, and so a page
    # of the zygote's heap each (about 80 copied pages a child). A program that changes
    # it changes its own child's copy only, which ends with it.
    safe = {k: v for k, v in vars(builtins).items() if k not in _REMOVED_BUILTINS}
    safe["__import__"] = _limited_import
    return safe


def _pick(namespace: dict[str, Any], variable: str | None) -> tuple[str | None, list[str]]:
    circuits = [
        name
        for name, value in namespace.items()
        if isinstance(value, QuantumCircuit) and not name.startswith("__")
    ]
    if variable is not None:
        return (variable if variable in circuits else None), circuits
    for conventional in ("qc", "circuit"):
        if conventional in circuits:
            return conventional, circuits
    return (circuits[-1] if circuits else None), circuits


def _error_line(error: BaseException) -> int | None:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == FILENAME]
    return frames[-1].lineno if frames else None


def run_program(
    code: str,
    variable: str | None,
    lock_down: Callable[[], None] | None = None,
    *,
    restrict_imports: bool = True,
) -> list[Any]:
    """Run `code`; ["ok", qpy, variable, names] or ["error", kind, message, line].

    `lock_down` runs after the program is compiled and before it runs: the
    sandbox's guard refuses compiling strings, so compiling comes first.
    `restrict_imports=False` (with no `lock_down`) is the Python guard switched
    off, for tests that prove the kernel's confinement holds alone.
    """
    safe = _safe_builtins() if restrict_imports else dict(vars(builtins))
    namespace: dict[str, Any] = {"__builtins__": safe, "__name__": "__circuit__"}
    try:
        compiled = compile(code, FILENAME, "exec")
    except SyntaxError as error:
        return ["error", "SyntaxError", str(error.msg), error.lineno]
    if lock_down is not None:
        lock_down()
    try:
        exec(compiled, namespace)
    except MemoryError:
        message = (
            "the circuit program ran out of the memory the sandbox allows "
            "(QOP_SANDBOX_MEMORY_MB); build smaller circuits and data structures"
        )
        return ["error", "MemoryLimit", message, None]
    except SystemExit as error:
        return [
            "error",
            "SystemExit",
            f"the program called exit({error.code!r}); build the circuit and let the program end",
            _error_line(error),
        ]
    except BaseException as error:  # the program may raise anything
        return ["error", type(error).__name__, str(error), _error_line(error)]
    chosen, names = _pick(namespace, variable)
    if chosen is None:
        if variable is not None:
            message = (
                f"circuit.variable is {variable!r} but no QuantumCircuit has that name; "
                f"circuits found: {', '.join(names) or 'none'}"
            )
        else:
            message = "the program builds no QuantumCircuit at module level (name it qc)"
        return ["error", "NoCircuit", message, None]
    buffer = io.BytesIO()
    try:
        qpy.dump(namespace[chosen], buffer)
    except Exception as error:
        return ["error", "QPYError", f"the circuit cannot be serialised: {error}", None]
    return ["ok", buffer.getvalue(), chosen, names]
