"""The layering DESIGN.md §4 promises: Qiskit only where circuits are handled,
and a reconcile function that starts without it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "qiskit_operator"
# client: the Qiskit primitives SDK; no function image loads it.
QISKIT_PACKAGES = {"circuits", "client", "execution", "providers", "sandbox"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_the_circuit_execution_provider_and_sandbox_packages_import_qiskit() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if imported_roots(path) & {"qiskit", "qiskit_aer"}
        and path.relative_to(PACKAGE).parts[0] not in QISKIT_PACKAGES
    ]
    assert offenders == []


def test_the_three_functions_never_import_each_other() -> None:
    handlers = {"validating", "executing", "reconciling"}
    for name in handlers:
        source = (PACKAGE / f"{name}.py").read_text()
        for other in handlers - {name}:
            assert f"qiskit_operator.{other}" not in source, f"{name} imports {other}"


def test_the_reconcile_entry_point_loads_without_qiskit() -> None:
    probe = (
        "import sys, functions_framework\n"
        "functions_framework.create_app(target='reconcile', source='functions/reconcile/main.py')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('qiskit', 'qiskit_aer'))\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
