"""Reading simple programs without running them gives exactly the sandbox's circuit,
and anything that needs running still goes to the sandbox."""

from __future__ import annotations

import pytest

from qiskit_operator.circuits import straightline
from qiskit_operator.circuits.serialization import canonical_qpy, from_qpy
from qiskit_operator.sandbox.pool import SandboxPool
from tests.conftest import BELL_PYTHON

IMPORT = "from qiskit import QuantumCircuit\n"

READABLE = {
    "bell": BELL_PYTHON,
    "ghz loop": IMPORT + "qc = QuantumCircuit(6)\nqc.h(0)\n"
    "for i in range(5):\n    qc.cx(i, i + 1)\nqc.measure_all()\n",
    "rotations with pi": IMPORT + "from math import pi\n"
    "qc = QuantumCircuit(2, 2)\nqc.rx(pi / 3, 0)\nqc.rz(-pi * 0.25, 1)\nqc.u(0.1, 0.2, 0.3, 0)\n"
    "qc.cp(2 * pi / 5, 0, 1)\nqc.measure([0, 1], [0, 1])\n",
    "numpy pi and lists": "import numpy as np\nfrom qiskit import QuantumCircuit\n"
    "circuit = QuantumCircuit(3, 3)\ncircuit.h([0, 1, 2])\ncircuit.ry(np.pi / 8, 2)\n"
    "circuit.barrier()\ncircuit.measure(range(3), range(3))\n",
    "two circuits": IMPORT + "a = QuantumCircuit(1)\nb = QuantumCircuit(2)\nb.h(0)\nb.cx(0, 1)\n",
    "nested loops": IMPORT + "qc = QuantumCircuit(4)\n"
    "for layer in range(3):\n    for q in range(0, 4, 2):\n        qc.rzz(0.1 * layer, q, q + 1)\n",
}
NEEDS_RUNNING = {
    "a function": IMPORT + "def f():\n    return 1\nqc = QuantumCircuit(1)\n",
    "an import": "import os\nfrom qiskit import QuantumCircuit\nqc = QuantumCircuit(1)\n",
    "an attribute": IMPORT + "qc = QuantumCircuit(1)\nqc.h.__globals__\n",
    "no import": "qc = QuantumCircuit(1)\n",
    "a keyword": IMPORT + "qc = QuantumCircuit(1)\nqc.measure_all(inplace=True)\n",
    "an error": IMPORT + "qc = QuantumCircuit(1)\nqc.h(5)\n",
    "a library": "from qiskit.circuit.library import QFTGate\n",
    "a huge circuit": IMPORT + "qc = QuantumCircuit(100000)\n",
    "a long loop": IMPORT + "qc = QuantumCircuit(1)\nfor i in range(10 ** 7):\n    qc.x(0)\n",
}


@pytest.mark.parametrize("name", sorted(READABLE))
def test_a_readable_program_gives_the_sandboxs_circuit(name: str, sandbox: SandboxPool) -> None:
    read = straightline.read(READABLE[name], None, max_qubits=64)
    assert read is not None, f"{name} should not need running"
    ran = sandbox.run(READABLE[name], None)
    assert read[1] == ran.variable and read[2] == ran.circuits
    assert canonical_qpy(read[0])[1] == canonical_qpy(from_qpy(ran.qpy)[0])[1]


@pytest.mark.parametrize("name", sorted(NEEDS_RUNNING))
def test_anything_else_goes_to_the_sandbox(name: str) -> None:
    assert straightline.read(NEEDS_RUNNING[name], None, max_qubits=64) is None


def test_the_named_variable_is_picked_as_the_sandbox_would() -> None:
    read = straightline.read(READABLE["two circuits"], "a", max_qubits=64)
    assert read is not None and read[1] == "a" and read[0].num_qubits == 1
    assert straightline.read(READABLE["two circuits"], "missing", max_qubits=64) is None
