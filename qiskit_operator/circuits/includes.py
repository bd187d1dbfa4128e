"""Which files an OpenQASM source may include, checked before any parser sees it.

Called by `qasm.load_qasm2` and `qasm.load_qasm3`. A circuit comes from a job's
author, and Qiskit's OpenQASM 2 parser reads an `include` from the server's disk
(quoting what it finds in its errors), so an include other than the standard
library of the language is refused here, by name, before parsing: OpenQASM 2 may
include only `qelib1.inc` (Qiskit's bundled copy, never read from disk) and
OpenQASM 3 only `stdgates.inc`.

The scan reads tokens (`scanning`), not a pattern over the text, so that comments
and strings cannot hide an include from it.
"""

from __future__ import annotations

from qiskit_operator.circuits.scanning import Language, keywords, line_of, tokens
from qiskit_operator.errors import UserError

__all__ = ["ALLOWED", "Language", "check_includes"]

ALLOWED: dict[Language, str] = {"OpenQASM 2": "qelib1.inc", "OpenQASM 3": "stdgates.inc"}

_SHOWN_CHARS = 80
_INCLUDE = frozenset({"include"})


def check_includes(source: str, language: Language) -> None:
    """Raise `UserError` naming the first include of anything but the allowed file."""
    allowed = ALLOWED[language]
    for keyword in keywords(source, language, _INCLUDE):
        name = next(tokens(source, language, keyword.start + len(keyword.text)), None)
        if name is not None and name.kind == "string" and name.text[1:-1] != allowed:
            line = line_of(source, name.start)
            raise UserError(
                f"{language} may include only {allowed!r}; line {line} includes "
                f"{_shown(name.text[1:-1])}: put what you need from it in the circuit "
                "itself",
                reason="IncludeRefused",
                line=line,
            )


def _shown(name: str) -> str:
    # The name is the caller's own input; it is still cut short and quoted so that a
    # long or odd one cannot fill the message.
    if len(name) > _SHOWN_CHARS:
        name = name[:_SHOWN_CHARS] + "..."
    return repr(name)
