"""How many instructions an OpenQASM source's gate definitions unroll to, read before parsing.

Called by `qasm.load_qasm2` and `qasm.check_qasm3`, before any parser runs. Sixty
lines of `gate g{n} a { g{n-1} a; g{n-1} a; }` define a gate of 2**60 instructions;
OpenQASM 3's reader builds each definition out as it reads it, so such a source
costs it exponential time before anything could be counted on the parsed circuit
(`expansion` counts that one, for every format). So each definition's size is
worked out here from the tokens (`scanning`): the sum, over the statements of its
body, of the size of the gate each calls (a gate not defined in the source counts
one), memoised by name and capped just past the limit.
"""

from __future__ import annotations

from qiskit_operator.circuits.declarations import SizeLimits
from qiskit_operator.circuits.scanning import Language, keywords, line_of, tokens
from qiskit_operator.errors import UserError

# Words that modify the gate after them (`ctrl @ inv @ g q;`) rather than name it.
_MODIFIERS = frozenset({"ctrl", "negctrl", "inv", "pow"})


def check_definitions(source: str, language: Language, limits: SizeLimits) -> None:
    """Raise `UserError` if a gate defined in the source unrolls to more instructions
    than `limits.max_instructions`, or definitions add up to more."""
    sizes: dict[str, int] = {}
    total = 0
    for keyword in keywords(source, language, frozenset({"gate"})):
        name, size = _definition(source, language, keyword.start, sizes, limits)
        if name is None:
            continue
        sizes[name] = size
        total += size
        if total > limits.max_instructions:
            line = line_of(source, keyword.start)
            raise UserError(
                f"the gate definitions up to {name!r} (line {line}) unroll to more than "
                f"{limits.max_instructions} instructions; at most {limits.max_instructions} "
                "are allowed (QOP_MAX_INSTRUCTIONS); define gates from fewer calls of "
                "one another, or raise the limit",
                reason="TooManyInstructions",
                line=line,
            )


def _definition(
    source: str, language: Language, start: int, sizes: dict[str, int], limits: SizeLimits
) -> tuple[str | None, int]:
    """The name of the gate defined at `start` and its size; None for no definition."""
    stream = tokens(source, language, start)
    next(stream, None)  # `gate`
    name = next(stream, None)
    if name is None or name.kind != "word":
        return None, 0
    for token in stream:  # parameters and qubit names, up to the body
        if token.text == "{":
            break
        if token.text == ";":
            return None, 0
    else:
        return None, 0
    size, depth, first, called = 0, 1, True, None
    for token in stream:
        if token.text == "{":
            depth += 1
        elif token.text == "}":
            depth -= 1
            if depth == 0:
                break
        elif token.text == ";":
            size += 1 if called is None else sizes.get(called, 1)
            first, called = True, None
            if size > limits.max_instructions:
                break
        elif first and token.kind == "word" and token.text not in _MODIFIERS:
            first, called = False, token.text
        elif first and token.kind != "word" and token.text not in ("(", ")", "@"):
            # Inside a modifier's argument (`pow(2) @`): still looking for the gate.
            continue
    return name.text, min(size, limits.max_instructions + 1)
