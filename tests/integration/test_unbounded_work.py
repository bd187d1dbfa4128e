"""Small requests that ask for unbounded work, sent to a real `qop serve validate` over
HTTP, through the validation API and as CloudEvents: gate definitions that unroll
exponentially, loops over huge ranges, nesting, QPY whose header or definitions ask
too much, and Python that builds a huge circuit. Each is refused with the limit, the
value and the setting, in a bounded time, while the memory of the server's process
tree stays where it was and it goes on answering /health. (Huge declarations are
`test_declared_sizes`.)"""

from __future__ import annotations

import base64
import io
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import requests
from qiskit import QuantumCircuit, qpy

from qiskit_operator.circuits.work import validated_work
from qiskit_operator.errors import UserError
from qiskit_operator.events import payloads
from qiskit_operator.executing import Executor
from qiskit_operator.execution.isolation import IsolatedRunner
from qiskit_operator.results import ResultStore
from tests.conftest import bell_circuit
from tests.serving import MeasuredServer, qop, served

# The server runs programs under a 2 s CPU limit, so that what only the sandbox's
# limits stop is refused soon; parsing refusals come in milliseconds. Both bounds are
# loose enough never to flake on a loaded two-core machine.
PARSE_SECONDS = 5.0
RUN_SECONDS = 20.0
CPU_SECONDS = "2"

Q2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\n'
Q3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\n'
UNROLLS = "unroll to more than 1000000 instructions"
UNROLLED = "unrolls to more than 1000000 instructions"
DEEP = "more than 64 levels inside one another"


def doubling(prefix: str, levels: int, call: str) -> str:
    """Gate g{n} calls g{n-1} twice: 2**levels instructions in `levels` lines."""
    lines = ["gate g0 a { h a; h a; }"]
    lines += [f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}" for i in range(1, levels)]
    return prefix + "\n".join(lines) + f"\ng{levels - 1} {call};\n"


def wide(prefix: str) -> str:
    """Two levels of a thousand calls each: a million and one instructions."""
    return (
        prefix
        + "gate w a { " + "h a; " * 1001 + "}\n"
        + "gate ww a { " + "w a; " * 1000 + "}\n"
        + "ww q[0];\n"
    )  # fmt: skip


def qpy_base64(circuit: QuantumCircuit) -> str:
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return base64.b64encode(buffer.getvalue()).decode()


def nested_loops_qpy() -> str:
    """A loop of a thousand inside a loop of a thousand: a million and two gates."""
    circuit = QuantumCircuit(2)
    with circuit.for_loop(range(1000)), circuit.for_loop(range(1000)):
        circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(0, 1)
    return qpy_base64(circuit)


def huge_loop_qpy() -> str:
    circuit = QuantumCircuit(1, 1)
    with circuit.for_loop(range(10**9)):
        circuit.h(0)
    circuit.measure(0, 0)
    return qpy_base64(circuit)


def instructions_declared_qpy(count: int) -> str:
    """A Bell pair's QPY whose header says it holds `count` instructions."""
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.cx(0, 1)
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    data = bytearray(buffer.getvalue())
    (start,) = struct.unpack_from("!Q", data, 20)  # the circuit's offset (QPY 16 on)
    # name size (2), phase type (1), phase size (2), qubits and clbits (4 + 4),
    # metadata size (8), registers (4): then the instruction count.
    struct.pack_into("!Q", data, start + 5 + 8 + 8 + 4, count)
    return base64.b64encode(bytes(data)).decode()


PYTHON_HUGE_LOOP = """
from qiskit import QuantumCircuit
qc = QuantumCircuit(1)
with qc.for_loop(range(10**12)):
    qc.h(0)
"""
PYTHON_MANY_GATES = """
from qiskit import QuantumCircuit
qc = QuantumCircuit(2)
for _ in range(10**9):
    qc.h(0)
"""
PYTHON_HUGE_LIST = "from qiskit import QuantumCircuit\nqc = QuantumCircuit(1)\nx = [0] * 10**10\n"
PYTHON_DEEP = "x = " + "-" * 200_000 + "1\n"

# (format, source, words the refusal holds, the seconds it may take)
CORPUS: list[tuple[str, str, str, float]] = [
    ("qasm2", doubling(Q2, 60, "q[0]"), UNROLLS, PARSE_SECONDS),
    ("qasm3", doubling(Q3, 60, "q[0]"), UNROLLS, PARSE_SECONDS),
    ("qasm2", wide(Q2), UNROLLS, PARSE_SECONDS),
    ("qasm3", wide(Q3), UNROLLS, PARSE_SECONDS),
    ("qasm2", Q2 + "gate k a { " + "h a; " * 1000 + "}\n" + "k q[0];\n" * 1001, UNROLLED,
     PARSE_SECONDS),
    ("qasm3", Q3 + "for int i in [0:1000000000] { h q[0]; }\n", UNROLLED, PARSE_SECONDS),
    ("qasm3", Q3 + "for int i in [0:999] { for int j in [0:999] { h q[0]; h q[1]; } }\n",
     UNROLLED, PARSE_SECONDS),
    ("qasm3", Q3 + "U(" + "(" * 5000 + "1" + ")" * 5000 + ", 0, 0) q[0];\n", DEEP,
     PARSE_SECONDS),
    ("qasm2", Q2 + "rz(" + "(" * 5000 + "1" + ")" * 5000 + ") q[0];\n", DEEP, PARSE_SECONDS),
    ("qasm3", Q3 + "bit c;\n" + "if (c) { " * 300 + "x q[0];" + "}" * 300 + "\n", DEEP,
     PARSE_SECONDS),
    ("qpy", instructions_declared_qpy(2**40), "declares a circuit of 1099511627776 instructions",
     PARSE_SECONDS),
    ("qpy", nested_loops_qpy(), UNROLLED, PARSE_SECONDS),
    ("qpy", huge_loop_qpy(), UNROLLED, PARSE_SECONDS),
    ("python", PYTHON_HUGE_LOOP, UNROLLED, RUN_SECONDS),
    ("python", PYTHON_MANY_GATES, "CPU time (QOP_SANDBOX_CPU_SECONDS)", RUN_SECONDS),
    ("python", PYTHON_HUGE_LIST, "memory the sandbox allows (QOP_SANDBOX_MEMORY_MB)", RUN_SECONDS),
    ("python", PYTHON_DEEP, "Python is nested too deeply", PARSE_SECONDS),
]  # fmt: skip
CORPUS_IDS = [f"{i}-{fmt}" for i, (fmt, _, _, _) in enumerate(CORPUS)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeasuredServer]:
    workdir = tmp_path_factory.mktemp("unbounded-work")
    with served(
        "validate",
        workdir,
        ready_timeout=90,
        MAX_WORKERS="2",
        QOP_SANDBOX_CPU_SECONDS=CPU_SECONDS,
        QOP_SANDBOX_TIMEOUT_SECONDS="15",
    ) as (process, base):
        # One good circuit of each kind first, so that what loading Qiskit's parsers
        # costs is in the baseline, not counted as growth.
        for fmt, code in (("qasm2", Q2), ("qasm3", Q3), ("qpy", huge_loop_qpy())):
            requests.post(f"{base}/validate", json={"code": code, "format": fmt}, timeout=60)
        yield MeasuredServer(process.pid, base)


@pytest.mark.parametrize(("fmt", "code", "words", "seconds"), CORPUS, ids=CORPUS_IDS)
def test_the_validation_api_refuses_unbounded_work_in_bounded_time_and_memory(
    server: MeasuredServer, fmt: str, code: str, words: str, seconds: float
) -> None:
    errors, took = server.refusal(fmt, code)
    assert any(words in error for error in errors), errors
    assert took < seconds, f"answered after {took:.1f} s"
    server.check_unharmed()


@pytest.mark.parametrize(("fmt", "code", "words", "seconds"), CORPUS, ids=CORPUS_IDS)
def test_a_job_asking_for_unbounded_work_is_rejected_in_bounded_time_and_memory(
    server: MeasuredServer, fmt: str, code: str, words: str, seconds: float
) -> None:
    message, took = server.rejection(fmt, code)
    assert words in message
    assert took < seconds, f"answered after {took:.1f} s"
    server.check_unharmed()


def test_a_loop_and_a_gate_within_the_limits_are_accepted(server: MeasuredServer) -> None:
    code = (
        Q3
        + "gate twice a { h a; h a; }\n"
        + "for int i in [0:99] { twice q[0]; cx q[0], q[1]; }\n"
        + "bit[2] c;\nc = measure q;\n"
    )
    answer = requests.post(
        f"{server.base}/validate", json={"code": code, "format": "qasm3"}, timeout=60
    )
    body = answer.json()
    assert body["valid"] is True, body
    assert body["qubits"] == 2
    server.check_unharmed()


@pytest.mark.parametrize("confined", [True, False], ids=["in-the-worker", "in-process"])
def test_execute_refuses_a_validated_circuit_that_unrolls_past_the_limit(
    tmp_path: Path, confined: bool
) -> None:
    request = payloads.ExecutionRequest(shots=100, optimization_level=1, seed=1)
    work = msgspec.structs.replace(
        validated_work(bell_circuit(), request), circuit_qpy=huge_loop_qpy()
    )
    executor = Executor(
        ResultStore(tmp_path),
        isolated=IsolatedRunner(),
        confined_deadline=120 if confined else None,
    )
    try:
        with pytest.raises(UserError) as refused:
            executor.execute(work)
        worker = executor.isolated._process
    finally:
        executor.close()
    assert refused.value.reason == "TooManyInstructions"
    assert "at most 1000000 are allowed (QOP_MAX_INSTRUCTIONS)" in refused.value.message
    assert (worker is not None) == confined


def test_qop_validate_refuses_a_file_whose_gates_unroll_past_the_limit(tmp_path: Path) -> None:
    circuit = tmp_path / "doubling.qasm"
    circuit.write_text(doubling(Q2, 60, "q[0]"))
    done = qop("validate", str(circuit), env={**os.environ, "QOP_SANDBOX_WARM": "1"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "at most 1000000 are allowed (QOP_MAX_INSTRUCTIONS)" in done.stderr
    assert "Traceback" not in done.stderr
