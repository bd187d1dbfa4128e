"""Which files an OpenQASM source may include, checked before any parser sees it.

Called by `qasm.load_qasm2` and `qasm.load_qasm3`. A circuit comes from a job's
author, and Qiskit's OpenQASM 2 parser reads an `include` from the server's disk
(quoting what it finds in its errors), so an include other than the standard
library of the language is refused here, by name, before parsing: OpenQASM 2 may
include only `qelib1.inc` (Qiskit's bundled copy, never read from disk) and
OpenQASM 3 only `stdgates.inc`.

The scan reads tokens, not a pattern over the text, so that comments and strings
cannot hide an include from it: a string is read before a comment could
start inside it, and a comment is skipped only where the language has one (OpenQASM
2 has no block comments, so text in `/* */` is still scanned there). Where this
scan and a parser could disagree, the scan sees more, so it can only refuse more.
"""

from __future__ import annotations

import re
from typing import Literal

from qiskit_operator.errors import UserError

Language = Literal["OpenQASM 2", "OpenQASM 3"]

ALLOWED: dict[Language, str] = {"OpenQASM 2": "qelib1.inc", "OpenQASM 3": "stdgates.inc"}

_SHOWN_CHARS = 80

# One token at a time, strings before comments, so that "//" in a string is not a
# comment and a quote in a comment is not a string; white space counts as a comment.
# A quote with no closing one on its line is not a string in either language: it falls
# to `other`, and scanning goes on. `other` takes everything else in long runs, which
# stop only where a string, a comment or the word `include` could start.
_TOKENS: dict[Language, re.Pattern[str]] = {
    "OpenQASM 2": re.compile(
        r'(?P<string>"[^"\n]*")|(?P<comment>//[^\n]*|\s+)'
        r'|(?P<include>(?<!\w)include(?!\w))|(?P<other>[^"/i\s][^"/i]*|.)',
        re.DOTALL,
    ),
    "OpenQASM 3": re.compile(
        r"""(?P<string>"[^"\n]*"|'[^'\n]*')|(?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z)|\s+)"""
        r"""|(?P<include>(?<!\w)include(?!\w))|(?P<other>[^"'/i\s][^"'/i]*|.)""",
        re.DOTALL,
    ),
}


def check_includes(source: str, language: Language) -> None:
    """Raise `UserError` naming the first include of anything but the allowed file."""
    allowed = ALLOWED[language]
    after_include = False
    for token in _TOKENS[language].finditer(source):
        kind = token.lastgroup
        if kind == "comment":
            continue
        if after_include and kind == "string" and token.group()[1:-1] != allowed:
            line = source.count("\n", 0, token.start()) + 1
            raise UserError(
                f"{language} may include only {allowed!r}; line {line} includes "
                f"{_shown(token.group()[1:-1])}: put what you need from it in the circuit "
                "itself",
                reason="IncludeRefused",
                line=line,
            )
        after_include = kind == "include"


def _shown(name: str) -> str:
    # The name is the caller's own input; it is still cut short and quoted so that a
    # long or odd one cannot fill the message.
    if len(name) > _SHOWN_CHARS:
        name = name[:_SHOWN_CHARS] + "..."
    return repr(name)
