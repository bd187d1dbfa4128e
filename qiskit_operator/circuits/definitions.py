"""How many instructions an OpenQASM source's gate definitions unroll to, read before parsing.

Called by `qasm.load_qasm2` and `qasm.check_qasm3`, before any parser runs. Sixty
lines of `gate g{n} a { g{n-1} a; g{n-1} a; }` define a gate of 2**60 instructions;
OpenQASM 3's reader builds each definition out as it reads it, so such a source
costs it exponential time before anything could be counted on the parsed circuit
(`expansion` counts that one, for every format). So each definition's size is
worked out here from the source with comments and strings blanked (`scanning`): the
sum, over the statements of its body, of the size of the gate each calls (a gate not
defined in the source counts one), memoised by name and capped just past the limit.
"""

from __future__ import annotations

import re

from qiskit_operator.circuits.declarations import SizeLimits
from qiskit_operator.circuits.scanning import Language, blank_quoted
from qiskit_operator.errors import UserError

# A definition's head, up to the brace that opens its body. It stops at the next
# `gate` too (a keyword, so never inside a head): else each `gate` of a megabyte of
# `gate g a ` would read on to the end, once per keyword.
# Possessive quantifiers: a failed head never backtracks through a long name.
_HEAD = re.compile(r"(?<![\w$])gate\s++([^\W\d]\w*+)(?:[^{};g]|g(?!ate(?!\w)))*+\{")
_BRACES = re.compile(r"[{}]")
# A statement of a body: modifiers (`ctrl @`, `pow(2) @`), then the gate it calls.
_CALLEE = re.compile(r"\s*+(?:(?:ctrl|negctrl|inv|pow)\s*+(?:\([^)]*+\))?\s*+@\s*+)*+([^\W\d]\w*+)")


def check_definitions(source: str, language: Language, limits: SizeLimits) -> None:
    """Raise `UserError` if a gate defined in the source unrolls to more instructions
    than `limits.max_instructions`, or definitions add up to more.

    Reads the source with comments and strings blanked, by regular expressions: a
    megabyte of definitions costs a pass, not a Python step per token."""
    if "gate" not in source:
        return
    code = blank_quoted(source, language)
    sizes: dict[str, int] = {}
    total = 0
    for head in _HEAD.finditer(code):
        name = head.group(1)
        size = _size(_body(code, head.end()), sizes, limits)
        sizes[name] = size
        total += size
        if total > limits.max_instructions:
            line = code.count("\n", 0, head.start()) + 1
            raise UserError(
                f"the gate definitions up to {name!r} (line {line}) unroll to more than "
                f"{limits.max_instructions} instructions; at most {limits.max_instructions} "
                "are allowed (QOP_MAX_INSTRUCTIONS); define gates from fewer calls of "
                "one another, or raise the limit",
                reason="TooManyInstructions",
                line=line,
            )


def _body(code: str, start: int) -> str:
    """The text between the brace before `start` and the one that closes it (or the end).
    Brackets are nested at most QOP_MAX_NESTING deep (checked before), so no character
    is walked over by more than that many bodies."""
    depth = 1
    for brace in _BRACES.finditer(code, start):
        depth += 1 if brace.group() == "{" else -1
        if depth == 0:
            return code[start : brace.start()]
    return code[start:]


def _size(body: str, sizes: dict[str, int], limits: SizeLimits) -> int:
    size = 0
    for statement in body.split(";")[:-1]:  # what follows the last `;` is no statement
        called = _CALLEE.match(statement)
        size += sizes.get(called.group(1), 1) if called else 1
        if size > limits.max_instructions:
            break
    return min(size, limits.max_instructions + 1)
