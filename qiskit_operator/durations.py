"""Durations as users write them in a job: `30s`, `5m`, `1h30m`, `1.5h`, `7d` or plain
seconds."""

from __future__ import annotations

import re

from qiskit_operator.errors import UserError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, field: str = "execution.maxExecutionTime") -> float:
    """Seconds in `text`; UserError naming `field` when it is not a duration."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value.replace(" ", ""):
            raise UserError(
                f"{field} {text!r} is not a duration; write e.g. 30s, 5m or 1h30m",
                reason="InvalidSpec",
            ) from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise UserError(f"{field} must be more than zero, not {text!r}", reason="InvalidSpec")
    return seconds
