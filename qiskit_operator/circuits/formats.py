"""Which format a circuit source is written in, when the job does not say."""

from __future__ import annotations

import re

from qiskit_operator.models.spec import CircuitFormat

# QPY files start with the magic bytes b"QISKIT"; base64 of those is "UUlTS0lU".
_QPY_BASE64_MAGIC = "UUlTS0lU"
_OPENQASM = re.compile(r"^\s*(?://[^\n]*\n\s*|/\*.*?\*/\s*)*OPENQASM\s+(\d+)", re.DOTALL)


def detect_format(source: str) -> CircuitFormat:
    match = _OPENQASM.match(source)
    if match:
        return "qasm3" if match.group(1) == "3" else "qasm2"
    if source.lstrip().startswith(_QPY_BASE64_MAGIC):
        return "qpy"
    return "python"


def format_for_filename(filename: str) -> CircuitFormat | None:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return {"py": "python", "qpy": "qpy"}.get(suffix)  # type: ignore[return-value]
