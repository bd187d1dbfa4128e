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


_OPENING = b"([{"
_CLOSING = b")]}"


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


def deepest_bracket(source: str, language: Language, limit: int) -> int | None:
    """The line of the first bracket, outside comments and strings, that opens more than
    `limit` levels of `(`, `[` and `{` inside one another; None if none does.

    A megabyte of `()` is half a million brackets: the depth is a running sum worked
    out by numpy over the source with its comments and strings blanked, not a loop."""
    if sum(source.count(bracket) for bracket in "([{") <= limit:
        return None
    # Imported here: settings imports this module (through declarations), and the
    # reconcile image, which has no numpy, imports settings; only validate gets here.
    import numpy as np

    blanked = blank_quoted(source, language).encode()
    # UTF-8 keeps ASCII bytes for ASCII characters only, so bytes find the brackets.
    codes = np.frombuffer(blanked, dtype=np.uint8)
    opening = np.frombuffer(_OPENING, dtype=np.uint8)
    closing = np.frombuffer(_CLOSING, dtype=np.uint8)
    steps = np.isin(codes, opening).astype(np.int64) - np.isin(codes, closing)
    total = np.cumsum(steps)
    # A closing bracket with nothing open is a syntax error, not a level below zero.
    depth = total - np.minimum.accumulate(np.minimum(total, 0))
    over = np.flatnonzero(depth > limit)
    if not over.size:
        return None
    return blanked.count(b"\n", 0, int(over[0])) + 1


def blank_quoted(source: str, language: Language) -> str:
    """The source with its comments and strings blanked, line breaks kept: what is left is
    code, and offsets into it are on the same lines as in the source."""
    return _quoted_pattern(language).sub(_blank, source)


def _blank(match: re.Match[str]) -> str:
    # Keeps the line breaks of a block comment, so lines are counted as in the source.
    return "\n" * match.group().count("\n") or " "


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
def _quoted_pattern(language: Language) -> re.Pattern[str]:
    return re.compile(f"{_STRING[language]}|{_COMMENT[language]}|{_UNCLOSED[language]}", re.DOTALL)


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
