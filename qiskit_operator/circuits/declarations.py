"""How many qubits and clbits a circuit declares, read before any parser allocates them.

Called by `qasm.load_qasm2`, `qasm.load_qasm3` and `serialization.from_qpy`, so by
the validate function, `qop validate`, the admission webhook and execute's worker.
Qiskit's parsers run in the server process, outside the sandbox's limits, and make
one object per declared bit: `qreg q[100000000];`, sixty bytes, took one past 8 GB.
So the declared sizes are read here first, from the tokens (`scanning`) of OpenQASM
and the fixed-width headers of QPY, and a circuit that declares more than the limits
allow is refused before it is parsed.

A size the scan cannot read exactly (an expression, a `const`) is refused too, with
a message that asks for a literal: evaluating the language is the parser's job.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from qiskit_operator.circuits.scanning import Language, Token, keywords, line_of, tokens
from qiskit_operator.errors import UserError


@dataclass(frozen=True, slots=True)
class SizeLimits:
    max_qubits: int = 64
    """QOP_MAX_QUBITS."""
    max_clbits: int = 1024
    """QOP_MAX_CLBITS."""
    max_circuits: int = 32
    """QOP_MAX_CIRCUITS: circuits one QPY file may hold."""
    max_instructions: int = 1_000_000
    """QOP_MAX_INSTRUCTIONS: instructions after gate definitions and loops are unrolled."""
    max_nesting: int = 64
    """QOP_MAX_NESTING: gate definitions and control-flow blocks inside one another."""


DEFAULT_LIMITS = SizeLimits()
ONE_CIRCUIT = SizeLimits(max_circuits=1)
"""What execute reads: a validated event carries one circuit."""


# Any size at least this big is over every limit; literals are cut to it before int(),
# so a 10,000-digit number costs no more than a short one.
_HUGE = 10**18
_MAX_LITERAL_CHARS = 64
_BASES = {"0x": (16, "0123456789abcdef"), "0o": (8, "01234567"), "0b": (2, "01")}
# Tokens of a size that is not a literal quoted in its refusal.
_SHOWN_TOKENS = 8
_SHOWN_CHARS = 40


def check_qasm(source: str, language: Language, limits: SizeLimits) -> None:
    """Raise `UserError` if the source declares more qubits or clbits than allowed."""
    totals = {"qubits": 0, "clbits": 0}
    for kind, size, token in _declarations(source, language, limits):
        totals[kind] = min(totals[kind] + size, _HUGE)
        _check_total(kind, totals[kind], limits, line_of(source, token.start))


def _check_total(kind: str, total: int, limits: SizeLimits, line: int | None = None) -> None:
    limit, setting = (
        (limits.max_qubits, "QOP_MAX_QUBITS")
        if kind == "qubits"
        else (limits.max_clbits, "QOP_MAX_CLBITS")
    )
    if total <= limit:
        return
    shown = f"more than {_HUGE - 1}" if total >= _HUGE else str(total)
    where = f" (the declaration on line {line} passes it)" if line is not None else ""
    raise UserError(
        f"the circuit declares {shown} {kind}; at most {limit} are allowed ({setting}){where}",
        reason="TooManyQubits" if kind == "qubits" else "TooManyClbits",
        line=line,
    )


_KEYWORDS: dict[Language, frozenset[str]] = {
    "OpenQASM 2": frozenset({"qreg", "creg"}),
    "OpenQASM 3": frozenset({"qreg", "creg", "qubit", "bit", "$"}),
}


def _declarations(
    source: str, language: Language, limits: SizeLimits
) -> Iterator[tuple[str, int, Token]]:
    """(qubits or clbits, size, the keyword's token) for each declaration in the source."""
    for token in keywords(source, language, _KEYWORDS[language]):
        if token.kind == "physical":
            _check_physical(source, token, limits)
            continue
        # The keyword, then the few tokens after it that make a declaration.
        ahead = _Lookahead(tokens(source, language, token.start))
        if token.text in ("qreg", "creg"):
            kind = "qubits" if token.text == "qreg" else "clbits"
            name = ahead.peek(1)
            if name is not None and name.kind == "word":
                opening = ahead.peek(2)
                if opening is not None and opening.text == "[":
                    size, _ = _designator(source, ahead, 2)
                    yield kind, _required(source, size, token, language), token
                elif language == "OpenQASM 3":  # `qreg q;` is one qubit there
                    yield kind, 1, token
        else:
            kind = "qubits" if token.text == "qubit" else "clbits"
            following = ahead.peek(1)
            if following is not None and following.kind == "word":
                yield kind, 1, token
            elif following is not None and following.text == "[":
                size, used = _designator(source, ahead, 1)
                name = ahead.peek(used)
                # `bit[4](x)` is a cast, not a declaration. A size that is not a literal
                # is refused wherever it is, as its closing bracket may be far away.
                if isinstance(size, str) or token.text == "qubit" or (name and name.kind == "word"):
                    yield kind, _required(source, size, token, language), token


def _designator(source: str, ahead: _Lookahead, at: int) -> tuple[int | str, int]:
    """The size in the brackets opening at `at` (an int, or the start of what is there
    instead of a literal) and how many tokens the keyword and its designator take."""
    size, closing = ahead.peek(at + 1), ahead.peek(at + 2)
    if size is not None and size.kind == "number" and closing is not None and closing.text == "]":
        value = literal(size.text)
        if value is not None:
            return value, at + 3
    # Not `[literal]`: only a few tokens are shown, and none looked for past them, so
    # that `bit[bit[bit[...` costs no more than `bit[5]` each.
    shown = [t for t in (ahead.peek(at + i) for i in range(1, _SHOWN_TOKENS + 1)) if t]
    ending = next((i for i, t in enumerate(shown) if t.text == "]"), len(shown))
    inside = shown[:ending]
    if not inside:
        return "", at + 1 + ending
    return source[inside[0].start : inside[-1].start + len(inside[-1].text)], at + 1 + ending


def _required(source: str, size: int | str, keyword: Token, language: Language) -> int:
    if isinstance(size, int):
        return size
    line = line_of(source, keyword.start)
    shown = size if len(size) <= _SHOWN_CHARS else size[:_SHOWN_CHARS] + "..."
    raise UserError(
        f"{language} line {line} declares a register whose size is not a literal integer "
        f"({shown!r}); declare registers with literal sizes, e.g. `qubit[5] q;`, so that "
        "the size can be checked before the circuit is parsed",
        reason="SizeNotLiteral",
        line=line,
    )


def _check_physical(source: str, token: Token, limits: SizeLimits) -> None:
    index = literal(token.text[1:])
    if index is not None and index < limits.max_qubits:
        return
    line = line_of(source, token.start)
    text = token.text if len(token.text) <= _SHOWN_CHARS else token.text[:_SHOWN_CHARS] + "..."
    raise UserError(
        f"line {line} uses physical qubit {text}; at most {limits.max_qubits} qubits are "
        "allowed, $0 to "
        f"${limits.max_qubits - 1} (QOP_MAX_QUBITS)",
        reason="TooManyQubits",
        line=line,
    )


def literal(text: str) -> int | None:
    """An OpenQASM integer literal's value, at most `_HUGE`; None if it is not one."""
    digits = text.replace("_", "").lower()
    base, allowed = _BASES.get(digits[:2], (10, "0123456789"))
    if base != 10:
        digits = digits[2:]
    if not digits or digits.strip(allowed):
        return None
    digits = digits.lstrip("0") or "0"
    if len(digits) > _MAX_LITERAL_CHARS:
        return _HUGE
    return min(int(digits, base), _HUGE)


class _Lookahead:
    """A few tokens ahead of the scan, without holding the whole source's tokens."""

    def __init__(self, stream: Iterator[Token]) -> None:
        self._stream = stream
        self._ahead: list[Token] = []

    def peek(self, index: int) -> Token | None:
        if index >= len(self._ahead):
            self._ahead.extend(islice(self._stream, index + 1 - len(self._ahead)))
        return self._ahead[index] if index < len(self._ahead) else None


# QPY: the file header, then (format 16 on) a table of each circuit's offset, then
# each circuit, which starts with a header holding num_qubits and num_clbits as
# unsigned 32-bit ints (qiskit/qpy/formats.py: FILE_HEADER, CIRCUIT_TABLE_ENTRY,
# CIRCUIT_HEADER, CIRCUIT_HEADER_V2, CIRCUIT_HEADER_V12).
_FILE_HEADER = struct.Struct("!6sBBBBQ")
_OFFSET = struct.Struct("!Q")
_SIZES = struct.Struct("!II")
# After the sizes: metadata_size (Q) and num_registers (I), then num_instructions (Q),
# the circuit's top-level instructions (nested blocks are counted by `expansion`).
_INSTRUCTIONS = struct.Struct("!QIQ")


def check_qpy(data: bytes, limits: SizeLimits) -> None:
    """Raise `UserError` if QPY data declares more circuits, qubits or clbits than allowed.

    Data too short or not QPY is left to the QPY reader, whose error says so."""
    if len(data) < _FILE_HEADER.size or data[:6] != b"QISKIT":
        return
    _, version, _, _, _, count = _FILE_HEADER.unpack_from(data)
    if count > limits.max_circuits:
        raise UserError(
            f"the QPY data holds {count} circuits; at most {limits.max_circuits} are allowed "
            "(QOP_MAX_CIRCUITS)",
            reason="TooManyCircuits",
        )
    position = _FILE_HEADER.size + (1 if version >= 10 else 0) + (1 if version >= 5 else 0)
    if version >= 16:
        starts = [
            _OFFSET.unpack_from(data, position + i * _OFFSET.size)[0]
            for i in range(count)
            if position + (i + 1) * _OFFSET.size <= len(data)
        ]
    elif count > 1:
        # Before format 16 only the first circuit's place is known without reading it.
        raise UserError(
            f"the QPY data (format {version}) holds {count} circuits; send one circuit, or "
            "write the file in QPY format 16 or later (Qiskit's default since 2.0)",
            reason="TooManyCircuits",
        )
    else:
        starts = [position]
    # name_size (2 bytes), then the global phase: a double before format 2, else a
    # type (1 byte) and a size (2 bytes).
    sizes_at = 2 + (8 if version < 2 else 3)
    for start in starts:
        if start + sizes_at + _SIZES.size > len(data):
            continue  # truncated: the QPY reader refuses it
        qubits, clbits = _SIZES.unpack_from(data, start + sizes_at)
        _check_total("qubits", qubits, limits)
        _check_total("clbits", clbits, limits)
        at = start + sizes_at + _SIZES.size
        if at + _INSTRUCTIONS.size <= len(data):
            _, _, instructions = _INSTRUCTIONS.unpack_from(data, at)
            if instructions > limits.max_instructions:
                raise UserError(
                    f"the QPY data declares a circuit of {instructions} instructions; at "
                    f"most {limits.max_instructions} are allowed (QOP_MAX_INSTRUCTIONS)",
                    reason="TooManyInstructions",
                )
