"""Loading circuits: formats detected, errors that name the line, one circuit one hash."""

from __future__ import annotations

import base64

import pytest
from qiskit import QuantumCircuit

from qiskit_operator.circuits.formats import detect_format
from qiskit_operator.circuits.loading import load_source
from qiskit_operator.circuits.serialization import canonical_qpy, to_qpy
from qiskit_operator.errors import UserError
from qiskit_operator.sandbox.pool import SandboxPool
from tests.conftest import BELL_PYTHON, BELL_QASM2

BELL_QASM3 = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""


def bell_qpy_base64() -> str:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return base64.b64encode(to_qpy(qc)).decode()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (BELL_PYTHON, "python"),
        (BELL_QASM2, "qasm2"),
        (BELL_QASM3, "qasm3"),
        ("// a comment\nOPENQASM 3;\nqubit q;", "qasm3"),
        (bell_qpy_base64(), "qpy"),
    ],
)
def test_format_is_detected_when_the_job_does_not_say(source: str, expected: str) -> None:
    assert detect_format(source) == expected


@pytest.mark.parametrize("source", [BELL_PYTHON, BELL_QASM2, BELL_QASM3, bell_qpy_base64()])
def test_every_format_of_bell_gives_the_same_circuit_hash(
    source: str, sandbox: SandboxPool
) -> None:
    loaded = load_source(source, None, sandbox)
    reference = load_source(BELL_QASM2, None, sandbox)
    assert canonical_qpy(loaded.circuit)[1] == canonical_qpy(reference.circuit)[1]
    assert loaded.circuit.count_ops() == {"h": 1, "cx": 1, "measure": 2}


@pytest.mark.parametrize(
    ("source", "line", "words"),
    [
        ("from qiskit import QuantumCircuit\nqc = QuantumCircuit(2)\nqc.h(0\n", 3, "never closed"),
        ("from qiskit import QuantumCircuit\nqc = QuantumCircuit(1)\nqc.h(5)\n", 3, "out of range"),
        ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0]\ncx q[0],q[1];\n', 5, "';'"),
        (
            'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nh q[0]\ncx q[0], q[1];\n',
            5,
            "line 5",
        ),
        ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nfoo q[0];\n', 4, "foo"),
    ],
)
def test_errors_name_the_line_and_the_reason(
    source: str, line: int, words: str, sandbox: SandboxPool
) -> None:
    with pytest.raises(UserError) as raised:
        load_source(source, None, sandbox)
    assert raised.value.line == line
    assert words in raised.value.message


def test_python_picks_the_named_variable_and_lists_every_circuit(sandbox: SandboxPool) -> None:
    code = (
        "from qiskit import QuantumCircuit\na = QuantumCircuit(1)\n"
        "b = QuantumCircuit(3)\nqc = QuantumCircuit(2)\n"
    )
    assert load_source(code, None, sandbox).circuit.num_qubits == 2
    named = load_source(code, "python", sandbox, variable="b")
    assert named.circuit.num_qubits == 3
    assert named.circuits == ["a", "b", "qc"]
    without_qc = code.replace("qc = QuantumCircuit(2)\n", "")
    assert load_source(without_qc, None, sandbox).variable == "b"  # the last one assigned


def test_a_program_that_builds_no_circuit_is_refused(sandbox: SandboxPool) -> None:
    with pytest.raises(UserError, match="no QuantumCircuit"):
        load_source("x = 1\n", None, sandbox)
    with pytest.raises(UserError, match="'missing'"):
        load_source(BELL_PYTHON, None, sandbox, variable="missing")


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("import os\nos.system('touch /tmp/qop-pwned')\n", "not allowed"),
        ("open('/tmp/qop-pwned', 'w').write('x')\n", "open"),
        ("import subprocess\n", "not allowed"),
        ("__import__('os')\n", "not allowed"),
        ("while True:\n    pass\n", "CPU"),
    ],
)
def test_python_circuits_cannot_reach_the_system(
    code: str, words: str, sandbox: SandboxPool
) -> None:
    with pytest.raises(UserError) as raised:
        load_source(code, "python", sandbox)
    assert words in raised.value.message
    assert sandbox.wait_warm(10)  # and the sandbox still serves the next request


def test_empty_source_and_bad_qpy_say_what_to_change(sandbox: SandboxPool) -> None:
    with pytest.raises(UserError, match="empty"):
        load_source("  \n", None, sandbox)
    with pytest.raises(UserError, match="base64"):
        load_source("UUlTS0lU not base64 !!", "qpy", sandbox)
