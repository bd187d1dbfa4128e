"""The unsandboxed floor for validate.py: never shipped, never safe, only fast.

What the original validation service was: a functions-framework function with the
`http` signature, served by functions-framework's own gunicorn (its threaded worker),
that answers `POST /validate` of `{"code", ...}` by running the program in its own
process with `exec` (no child, no kernel confinement, nothing between one request's
program and the next) or reading OpenQASM 2 with Qiskit, then answering qubits,
depth and gate counts. validate.py serves it beside `qop serve validate`, with the
same number of worker processes and threads, and measures both in one run:

    WORKERS=2 THREADS=8 .venv/bin/functions-framework --target validate \\
        --source benchmarks/floor_validate.py --host 127.0.0.1 --port 8090

Anything it is sent runs with its privileges: serve it on loopback only.
"""

from __future__ import annotations

import hashlib
from typing import Any

import flask
import functions_framework
from qiskit import QuantumCircuit


def _circuit(code: str) -> QuantumCircuit:
    if code.lstrip().startswith("OPENQASM"):
        return QuantumCircuit.from_qasm_str(code)
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # the point of a floor: no isolation at all
    circuits = [v for v in namespace.values() if isinstance(v, QuantumCircuit)]
    found = namespace.get("qc") or namespace.get("circuit") or (circuits[-1] if circuits else None)
    if not isinstance(found, QuantumCircuit):
        raise ValueError("the program builds no QuantumCircuit")
    return found


@functions_framework.http
def validate(request: flask.Request) -> flask.Response | tuple[dict[str, Any], int]:
    if request.method == "GET":
        return {"status": "healthy"}, 200
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("code"), str):
        return {"error": "POST JSON with a string field 'code'"}, 400
    code = payload["code"]
    try:
        circuit = _circuit(code)
    except Exception as error:  # the original answered every failure as invalid
        return flask.jsonify(valid=False, errors=[f"{type(error).__name__}: {error}"])
    gate_types = {str(name): int(count) for name, count in circuit.count_ops().items()}
    depth = circuit.depth()
    return flask.jsonify(
        valid=True,
        circuit_hash=hashlib.sha256(code.encode()).hexdigest(),
        depth=depth,
        qubits=circuit.num_qubits,
        gates=circuit.size(),
        gate_types=gate_types,
        estimated_execution_time=depth * 1e-6,
        errors=[],
        warnings=[],
    )
