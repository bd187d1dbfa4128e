"""OpenQASM read as tokens that comments and strings cannot disguise.

Used by the checks that run before any parser sees a source: `includes` (which
files it includes) and `declarations` (how many qubits and clbits it declares).
A string is read before a comment could start inside it, and a comment is skipped
only where the language has one (OpenQASM 2 has no block comments, so text in
`/* */` is still scanned there). Where this scan and a parser could disagree, the
scan sees more, so the checks built on it can only refuse more.

Two readings share these rules: `keywords` finds the few words a check looks for,
skipping everything between them inside the regular expression engine (a source is
up to QOP_MAX_SOURCE_BYTES, and one Python step per token took seconds for a
megabyte of `;`), and `tokens` reads every token from one of them on.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Literal, NamedTuple

Language = Literal["OpenQASM 2", "OpenQASM 3"]

# A quote with no closing one on its line is not a string in either language: it is
# read as any other character, and scanning goes on.
_STRING: dict[Language, str] = {
    "OpenQASM 2": r'"[^"\n]*"',
    "OpenQASM 3": r""""[^"\n]*"|'[^'\n]*'""",
}
_UNCLOSED: dict[Language, str] = {
    "OpenQASM 2": r'"(?![^"\n]*")',
    "OpenQASM 3": r""""(?![^"\n]*")|'(?![^'\n]*')""",
}
_COMMENT: dict[Language, str] = {
    "OpenQASM 2": r"//[^\n]*",
    "OpenQASM 3": r"//[^\n]*|/\*.*?(?:\*/|\Z)",
}
_QUOTES: dict[Language, str] = {"OpenQASM 2": '"', "OpenQASM 3": "\"'"}
_LONE_SLASH: dict[Language, str] = {"OpenQASM 2": r"/(?!/)", "OpenQASM 3": r"/(?![/*])"}


class Token(NamedTuple):
    kind: str  # string, word, number, physical or other (from `keywords`: keyword)
    text: str
    start: int


def keywords(source: str, language: Language, words: frozenset[str]) -> Iterator[Token]:
    """Each of `words` that is a whole word outside comments and strings, and (where
    `$` is among `words`) each physical qubit, `$` and its digits."""
    for match in _keyword_pattern(language, words).finditer(source):
        kind = match.lastgroup
        if kind == "keyword" or kind == "physical":
            yield Token(kind, match.group(), match.start())


def tokens(source: str, language: Language, start: int = 0) -> Iterator[Token]:
    """The source's tokens from `start` on, comments and white space left out."""
    pattern = _token_pattern(language)
    while start < len(source):
        match = pattern.match(source, start)
        assert match is not None  # `other` takes any one character
        start = match.end()
        kind = match.lastgroup
        if kind != "comment" and kind is not None:
            yield Token(kind, match.group(), match.start())


def line_of(source: str, offset: int) -> int:
    return source.count("\n", 0, offset) + 1


# Unbounded caches on purpose: their keys are the two languages and the module
# constants the callers pass (declarations, includes), a handful of entries.
@functools.cache
def _token_pattern(language: Language) -> re.Pattern[str]:
    # Words and numbers are whole tokens, so a keyword inside a longer name is not the
    # keyword; `$3` (a physical qubit) is one token; brackets are tokens of their own.
    quotes = _QUOTES[language]
    return re.compile(
        rf"(?P<string>{_STRING[language]})|(?P<comment>{_COMMENT[language]}|\s+)"
        r"|(?P<word>[^\W\d]\w*)|(?P<number>\d\w*)|(?P<physical>\$\d\w*)"
        rf"|(?P<other>[^\w\s{quotes}/\[\]$]+|.)",
        re.DOTALL,
    )


@functools.cache
def _keyword_pattern(language: Language, words: frozenset[str]) -> re.Pattern[str]:
    names = sorted(w for w in words if w != "$")
    firsts = "".join(sorted({w[0] for w in names}))
    ends = "|".join(re.escape(w[1:]) for w in names)
    physical = "$" in words
    # `skipped` is everything no check looks at, in runs: strings and comments whole,
    # and any character that cannot start a keyword where it stands: not one of their
    # first letters, or one inside a longer word (`\B`), or one not followed by the rest
    # of a keyword.
    skipped = "|".join(
        [
            _STRING[language],
            _COMMENT[language],
            _UNCLOSED[language],
            _LONE_SLASH[language],
            rf"[^{_QUOTES[language]}/${re.escape(firsts)}]",
            rf"\B[{re.escape(firsts)}]",
            rf"[{re.escape(firsts)}](?!(?:{ends})(?!\w))",
            r"\$(?!\d)" if physical else r"\$",
        ]
    )
    keyword = "|".join(re.escape(w) for w in names)
    return re.compile(
        rf"(?P<keyword>(?<!\w)(?:{keyword})(?!\w))"
        + (r"|(?P<physical>\$\d\w*)" if physical else "")
        + rf"|(?P<skipped>(?:{skipped})+)|(?P<other>.)",
        re.DOTALL,
    )
