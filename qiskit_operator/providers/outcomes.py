"""What the families share when they turn a provider's result into an `Outcome`.

`Outcome` keeps counts as Aer gives them, hexadecimal keys, converted to
bitstrings only for the outcomes a summary shows (`execution.aer.top_counts`);
the other families' bitstrings are converted to that form here. Every family
builds its `Outcome` with `execution.aer.timed_outcome`.
"""

from __future__ import annotations


def hex_counts(bitstrings: dict[str, int]) -> dict[str, int]:
    """Counts keyed by bitstrings (registers separated by spaces, or not) as Aer keys them."""
    counts: dict[str, int] = {}
    for bits, count in bitstrings.items():
        key = hex(int(bits.replace(" ", "") or "0", 2))
        counts[key] = counts.get(key, 0) + int(count)
    return counts
