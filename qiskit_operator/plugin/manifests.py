"""A QiskitJob made from a circuit file: what `kubectl qiskit run FILE` applies.

The file's format comes from its name (.py, .qasm, .qpy) or its text; a QPY file
travels base64-encoded, as circuit.format qpy expects. Imports no Qiskit: validate
reads the circuit, on the cluster.
"""

from __future__ import annotations

import base64
import re
import secrets
from pathlib import Path
from typing import Any

from qiskit_operator.circuits.formats import detect_format, format_for_filename
from qiskit_operator.errors import UserError
from qiskit_operator.models import API_VERSION

_NAME_PART = re.compile(r"[^a-z0-9-]+")


def job_from_file(
    path: Path,
    *,
    namespace: str,
    name: str | None = None,
    shots: int | None = None,
    backend: str | None = None,
) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UserError(f"{path}: {error.strerror}; give a .py, .qasm or .qpy file") from error
    fmt = format_for_filename(path.name)
    if fmt == "qpy":
        code = base64.b64encode(raw).decode()
    else:
        try:
            code = raw.decode()
        except UnicodeDecodeError as error:
            raise UserError(
                f"{path} is not text; a binary circuit must be QPY, named *.qpy"
            ) from error
        fmt = fmt or detect_format(code)
    execution: dict[str, Any] = {}
    if shots is not None:
        execution["shots"] = shots
    spec: dict[str, Any] = {
        "circuit": {"source": "inline", "format": fmt, "code": code},
        "execution": execution,
        # Every outcome, not only the 16 the status keeps: `results` and --plot read it.
        "output": {"type": "configmap", "format": "json"},
    }
    if backend is not None:
        spec["backend"] = {"name": backend}
    return {
        "apiVersion": API_VERSION,
        "kind": "QiskitJob",
        "metadata": {"name": name or generated_name(path), "namespace": namespace},
        "spec": spec,
    }


def generated_name(path: Path) -> str:
    """The file's stem as a Kubernetes name, made unique: bell.qasm -> bell-3f9a1c."""
    stem = _NAME_PART.sub("-", path.stem.lower()).strip("-")[:40] or "circuit"
    return f"{stem}-{secrets.token_hex(3)}"
