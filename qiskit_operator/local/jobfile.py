"""Reading a QiskitJob manifest from a YAML file, as `kubectl apply -f` would, and the
QiskitBudgets and QiskitBackends written beside it in the same file (`qop run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import yaml

from qiskit_operator.errors import UserError
from qiskit_operator.models.backend import QiskitBackend
from qiskit_operator.models.budget import QiskitBudget


def _documents(path: Path) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(path.read_text()) if d]
    except FileNotFoundError as error:
        raise UserError(f"{path}: no such file") from error
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {error}") from error


def load_companions(path: Path) -> tuple[list[QiskitBudget], list[QiskitBackend]]:
    """The QiskitBudgets and QiskitBackends in the job's file: on one machine they are
    the budgets jobs are charged to and the prices they are charged (docs/budgets.md)."""
    budgets, backends = [], []
    for document in _documents(path):
        kind = document.get("kind") if isinstance(document, dict) else None
        try:
            if kind == "QiskitBudget":
                budgets.append(QiskitBudget.model_validate(document))
            elif kind == "QiskitBackend":
                backends.append(QiskitBackend.model_validate(document))
        except pydantic.ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise UserError(
                f"{path}: the {kind} is not valid: {where}: {problem['msg']}"
            ) from error
    return budgets, backends


def load_job_manifest(path: Path) -> dict[str, Any]:
    documents = _documents(path)
    jobs = [d for d in documents if isinstance(d, dict) and d.get("kind") == "QiskitJob"]
    if not jobs:
        raise UserError(f"{path} holds no object of kind QiskitJob")
    job = jobs[0]
    if not isinstance(job.get("metadata"), dict) or not job["metadata"].get("name"):
        raise UserError(f"{path}: the QiskitJob needs metadata.name")
    return job
