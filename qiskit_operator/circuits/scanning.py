"""OpenQASM read as tokens that comments and strings cannot disguise.

Used by the checks that run before any parser sees a source: `includes` (which
files it includes) and `declarations` (how many qubits and clbits it declares).
A string is read before a comment could start inside it, and a comment is skipped
only where the language has one (OpenQASM 2 has no block comments, so text in
`/* */` is still scanned there). Where this scan and a parser could disagree, the
scan sees more, so the checks built on it can only refuse more.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal, NamedTuple

Language = Literal["OpenQASM 2", "OpenQASM 3"]

# Words and numbers are whole tokens, so `include` or `qubit` inside a longer name is
# not the keyword; `$3` (an OpenQASM 3 physical qubit) is one token. A quote with no
# closing one on its line is not a string in either language: it falls to `other`, and
# scanning goes on. `other` takes runs of punctuation that no check looks at, and the
# brackets and semicolons that declarations are made of one at a time.
_WORDS = r"|(?P<word>[^\W\d]\w*)|(?P<number>\d\w*)|(?P<physical>\$\d\w*)"
_PATTERNS: dict[Language, re.Pattern[str]] = {
    "OpenQASM 2": re.compile(
        r'(?P<string>"[^"\n]*")|(?P<comment>//[^\n]*|\s+)'
        + _WORDS
        + r'|(?P<other>[^\w\s"/\[\];$]+|.)',
        re.DOTALL,
    ),
    "OpenQASM 3": re.compile(
        r"""(?P<string>"[^"\n]*"|'[^'\n]*')|(?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z)|\s+)"""
        + _WORDS
        + r"""|(?P<other>[^\w\s"'/\[\];$]+|.)""",
        re.DOTALL,
    ),
}


class Token(NamedTuple):
    kind: str  # string, word, number, physical or other
    text: str
    start: int


def tokens(source: str, language: Language) -> Iterator[Token]:
    """The source's tokens in order, comments and white space left out."""
    for match in _PATTERNS[language].finditer(source):
        kind = match.lastgroup
        if kind != "comment" and kind is not None:
            yield Token(kind, match.group(), match.start())


def line_of(source: str, offset: int) -> int:
    return source.count("\n", 0, offset) + 1
