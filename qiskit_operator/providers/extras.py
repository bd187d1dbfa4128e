"""The optional SDKs a family needs, imported only when a job asks for that family.

Used by the IBM Runtime and Braket families: a missing extra fails the job with
the pip command that installs it, never an ImportError traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from qiskit_operator.errors import UserError

NOT_INSTALLED = "ProviderNotInstalled"

_PACKAGE_OF_EXTRA = {
    "ibm": "qiskit-ibm-runtime",
    "braket": "qiskit-braket-provider and amazon-braket-sdk",
}


def require(module: str, extra: str, wanted_by: str) -> ModuleType:
    """`module`, imported; UserError naming the extra to install when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise _missing(extra, wanted_by) from error


def ensure_installed(module: str, extra: str, wanted_by: str) -> None:
    """`require` without the import (Braket's takes seconds): for validate's check."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, as tests do
        found = False
    if not found:
        raise _missing(extra, wanted_by)


def _missing(extra: str, wanted_by: str) -> UserError:
    return UserError(
        f"{wanted_by} needs {_PACKAGE_OF_EXTRA[extra]}, which this installation of "
        f"qiskit-operator lacks: install qiskit-operator[{extra}] "
        f"(pip install 'qiskit-operator[{extra}]') where validate and execute run",
        reason=NOT_INSTALLED,
    )
