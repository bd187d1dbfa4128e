"""OpenQASM 2 and 3 sources to circuits, with errors that name the line.

Called by `loading.load_source`. Nothing here reads a file: includes are checked
first (`includes`), and the OpenQASM 2 parser gets an empty include path besides;
declared sizes are checked before parsing too (`declarations`).
"""

from __future__ import annotations

import re

from qiskit import QuantumCircuit, qasm2, qasm3

from qiskit_operator.circuits.declarations import DEFAULT_LIMITS, SizeLimits, check_qasm
from qiskit_operator.circuits.definitions import check_definitions
from qiskit_operator.circuits.expansion import check_expansion
from qiskit_operator.circuits.includes import check_includes
from qiskit_operator.circuits.scanning import Language, deepest_bracket
from qiskit_operator.errors import UserError

_QASM2_PLACE = re.compile(r"<input>:(\d+),(\d+):\s*(.*)", re.DOTALL)
_QASM3_PLACE = re.compile(r"^(?:L)?(\d+)[:,]\s*(?:C)?(\d+):\s*(.*)", re.DOTALL)


def load_qasm2(source: str, limits: SizeLimits = DEFAULT_LIMITS) -> QuantumCircuit:
    _check_before_parsing(source, "OpenQASM 2", limits)
    try:
        circuit = qasm2.loads(
            source, include_path=(), custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS
        )
    except qasm2.QASM2Error as error:
        raise _located("OpenQASM 2", str(error).strip('"'), _QASM2_PLACE) from error
    check_expansion(circuit, limits)
    return circuit


def load_qasm3(source: str, limits: SizeLimits = DEFAULT_LIMITS) -> QuantumCircuit:
    """Check and parse in this process: for sources a caller has bounded already. The
    validate path parses in a sandbox child instead (`check_qasm3`, then `parse_qasm3`
    there)."""
    check_qasm3(source, limits)
    circuit = parse_qasm3(source)
    check_expansion(circuit, limits)
    return circuit


def check_qasm3(source: str, limits: SizeLimits = DEFAULT_LIMITS) -> None:
    """What can be refused before parsing: includes, declared sizes."""
    _check_before_parsing(source, "OpenQASM 3", limits)


def _check_before_parsing(source: str, language: Language, limits: SizeLimits) -> None:
    check_includes(source, language)
    check_qasm(source, language, limits)
    line = deepest_bracket(source, language, limits.max_nesting)
    if line is not None:
        raise UserError(
            f"{language} is nested too deeply to read: brackets or blocks more than "
            f"{limits.max_nesting} levels inside one another at line {line} "
            "(QOP_MAX_NESTING); flatten it, e.g. with intermediate variables",
            reason="NestedTooDeeply",
            line=line,
        )
    check_definitions(source, language, limits)


def parse_qasm3(source: str) -> QuantumCircuit:
    """Parse OpenQASM 3; UserError with the line of the first syntax error."""
    try:
        return qasm3.loads(source)
    except qasm3.QASM3Error as error:
        raise _located("OpenQASM 3", str(error).strip('"'), _QASM3_PLACE) from error
    except RecursionError as error:
        # The parser recurses once per level of nesting; parsing again would only recurse
        # as deep again.
        raise too_deep("OpenQASM 3") from error
    except Exception as error:
        # The OpenQASM 3 parser bails out without a message; parse again to find it.
        line, column, message = _qasm3_syntax_error(source)
        if line is None:
            raise UserError(
                f"OpenQASM 3 could not be read: {error or type(error).__name__}",
                reason="SyntaxError",
            ) from error
        raise UserError(
            f"OpenQASM 3 syntax error at line {line}, column {column}: {message}",
            reason="SyntaxError",
            line=line,
        ) from error


def too_deep(language: str) -> UserError:
    """The refusal of a source nested deeper than its parser can follow."""
    return UserError(
        f"{language} is nested too deeply to read (brackets or blocks inside one another); "
        "flatten it, e.g. with intermediate variables",
        reason="NestedTooDeeply",
    )


def _located(language: str, text: str, pattern: re.Pattern[str]) -> UserError:
    match = pattern.match(text)
    if not match:
        return UserError(f"{language} error: {text}", reason="SyntaxError")
    line, column, message = int(match.group(1)), int(match.group(2)), match.group(3).strip()
    return UserError(
        f"{language} error at line {line}, column {column}: {message}",
        reason="SyntaxError",
        line=line,
    )


def _qasm3_syntax_error(source: str) -> tuple[int | None, int | None, str]:
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.error.ErrorListener import ErrorListener
    from openqasm3._antlr.qasm3Lexer import qasm3Lexer
    from openqasm3._antlr.qasm3Parser import qasm3Parser

    found: list[tuple[int, int, str]] = []

    class Collect(ErrorListener):  # type: ignore[misc]
        def syntaxError(self, recognizer, symbol, line, column, msg, e):  # type: ignore[no-untyped-def]  # noqa: N802
            found.append((line, column, msg))

    lexer = qasm3Lexer(InputStream(source))
    lexer.removeErrorListeners()
    lexer.addErrorListener(Collect())
    parser = qasm3Parser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(Collect())
    parser.program()
    if not found:
        return None, None, ""
    return found[0]
