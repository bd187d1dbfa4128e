"""Reading a QiskitJob manifest from a YAML file, as `kubectl apply -f` would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from qiskit_operator.errors import UserError


def load_job_manifest(path: Path) -> dict[str, Any]:
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except FileNotFoundError as error:
        raise UserError(f"{path}: no such file") from error
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {error}") from error
    jobs = [d for d in documents if isinstance(d, dict) and d.get("kind") == "QiskitJob"]
    if not jobs:
        raise UserError(f"{path} holds no object of kind QiskitJob")
    job = jobs[0]
    if not isinstance(job.get("metadata"), dict) or not job["metadata"].get("name"):
        raise UserError(f"{path}: the QiskitJob needs metadata.name")
    return job
