"""Circuits that declare huge registers, sent to a real `qop serve validate` over HTTP,
through the validation API and as CloudEvents: each is refused quickly, with the limit,
the value and the setting, while the server's memory stays where it was and it goes
on answering /health. Execute (in its worker and in process) and `qop validate` refuse
them too."""

from __future__ import annotations

import base64
import io
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import requests
from qiskit import QuantumCircuit, qpy

from qiskit_operator.circuits.declarations import SizeLimits
from qiskit_operator.circuits.work import validated_work
from qiskit_operator.errors import UserError
from qiskit_operator.events import payloads
from qiskit_operator.executing import Executor
from qiskit_operator.execution.isolation import IsolatedRunner
from qiskit_operator.results import ResultStore
from tests.conftest import bell_circuit
from tests.serving import MeasuredServer, qop, served

# Loose enough never to flake on a loaded two-core machine; what was fixed took over
# 30 s and 8 GB.
ANSWER_SECONDS = 5.0

Q2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
Q3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'


def forged_qpy(qubits: int = 2, clbits: int = 2, circuits: int | None = None) -> str:
    """A Bell pair's QPY whose header is rewritten to declare other sizes."""
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    buffer = io.BytesIO()
    qpy.dump(qc, buffer)
    data = bytearray(buffer.getvalue())
    (start,) = struct.unpack_from("!Q", data, 20)  # the circuit's offset (QPY 16 on)
    struct.pack_into("!II", data, start + 5, qubits, clbits)
    if circuits is not None:
        struct.pack_into("!Q", data, 10, circuits)
    return base64.b64encode(bytes(data)).decode()


CORPUS: list[tuple[str, str, str]] = [
    ("qasm2", Q2 + "qreg q[100000000];\n", "declares 100000000 qubits; at most 64 are allowed"),
    ("qasm2", Q2 + "creg c[100000000];\n", "declares 100000000 clbits; at most 1024 are allowed"),
    ("qasm2", Q2 + "qreg q[0000100000000];\n", "declares 100000000 qubits"),
    ("qasm2", Q2 + "qreg q[" + "7" * 10_000 + "];\n", "declares more than"),
    ("qasm2", Q2 + "qreg a[40];\nqreg b[40];\n", "declares 80 qubits"),
    ("qasm2", Q2 + "qreg q // between\n[100000000];\n", "declares 100000000 qubits"),
    ("qasm3", Q3 + "qubit[1_000_000_000] q;\n", "declares 1000000000 qubits"),
    ("qasm3", Q3 + "bit[1_000_000_000] c;\n", "declares 1000000000 clbits"),
    ("qasm3", Q3 + "qreg q[100000000];\n", "declares 100000000 qubits"),
    ("qasm3", Q3 + "creg c[100000000];\n", "declares 100000000 clbits"),
    ("qasm3", Q3 + "qubit q0;\n" * 65, "declares 65 qubits"),
    ("qasm3", Q3 + "const uint n = 1000000000;\nqubit[n] q;\n", "declare registers with literal"),
    ("qasm3", Q3 + "h $100000000;\n", "physical qubit $100000000"),
    ("qasm3", Q3 + "qubit /* x */ [100000000] /* y */ q;\n", "declares 100000000 qubits"),
    ("qasm3", Q3 + '// an odd quote "\nqubit[100000000] q;\n', "declares 100000000 qubits"),
    ("qasm3", Q3 + "/* qubit[2] q; */ bit[2000] c;\n", "declares 2000 clbits"),
    ("qpy", forged_qpy(qubits=100_000_000), "declares 100000000 qubits"),
    ("qpy", forged_qpy(clbits=4_000_000_000), "declares 4000000000 clbits"),
    ("qpy", forged_qpy(circuits=2**40), "holds 1099511627776 circuits"),
]
CORPUS_IDS = [f"{i}-{fmt}" for i, (fmt, _, _) in enumerate(CORPUS)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeasuredServer]:
    workdir = tmp_path_factory.mktemp("declared-sizes")
    with served("validate", workdir, ready_timeout=90, MAX_WORKERS="2") as (process, base):
        # One good circuit first, so that what loading Qiskit's parsers costs is in the
        # baseline, not counted as growth.
        for fmt, code in (("qasm2", Q2 + "qreg q[2];\n"), ("qasm3", Q3 + "qubit[2] q;\n")):
            answer = requests.post(
                f"{base}/validate", json={"code": code, "format": fmt}, timeout=60
            )
            assert answer.json()["valid"] is True, answer.text
        yield MeasuredServer(process.pid, base)


@pytest.mark.parametrize(("fmt", "code", "words"), CORPUS, ids=CORPUS_IDS)
def test_the_validation_api_refuses_a_huge_declaration_quickly_and_unharmed(
    server: MeasuredServer, fmt: str, code: str, words: str
) -> None:
    errors, took = server.refusal(fmt, code)
    assert any(words in error for error in errors), errors
    assert took < ANSWER_SECONDS, f"answered after {took:.1f} s"
    server.check_unharmed()


@pytest.mark.parametrize(("fmt", "code", "words"), CORPUS, ids=CORPUS_IDS)
def test_a_job_with_a_huge_declaration_is_rejected_quickly_and_unharmed(
    server: MeasuredServer, fmt: str, code: str, words: str
) -> None:
    message, took = server.rejection(fmt, code)
    assert words in message
    assert took < ANSWER_SECONDS, f"answered after {took:.1f} s"
    server.check_unharmed()


def test_a_declaration_only_in_a_comment_is_not_counted(server: MeasuredServer) -> None:
    code = Q3 + "// qubit[100000000] r;\n/* qreg s[100000000]; */\nqubit[2] q;\nh q[0];\n"
    answer = requests.post(
        f"{server.base}/validate", json={"code": code, "format": "qasm3"}, timeout=60
    )
    body = answer.json()
    assert body["valid"] is True, body
    assert body["qubits"] == 2
    server.check_unharmed()


def forged_work(qubits: int) -> payloads.JobValidated:
    """A validated event whose circuit's QPY header declares `qubits`."""
    request = payloads.ExecutionRequest(shots=100, optimization_level=1, seed=1)
    work = validated_work(bell_circuit(), request)
    return msgspec.structs.replace(work, circuit_qpy=forged_qpy(qubits=qubits))


@pytest.mark.parametrize("confined", [True, False], ids=["in-the-worker", "in-process"])
def test_execute_refuses_a_validated_circuit_that_declares_too_many_qubits(
    tmp_path: Path, confined: bool
) -> None:
    executor = Executor(
        ResultStore(tmp_path),
        isolated=IsolatedRunner(sizes=SizeLimits(max_qubits=8, max_circuits=1)),
        confined_deadline=120 if confined else None,
        sizes=SizeLimits(max_qubits=8, max_circuits=1),
    )
    started = time.monotonic()
    try:
        with pytest.raises(UserError) as refused:
            executor.execute(forged_work(100_000_000))
        worker = executor.isolated._process
    finally:
        executor.close()
    assert refused.value.reason == "TooManyQubits"
    assert "declares 100000000 qubits; at most 8 are allowed (QOP_MAX_QUBITS)" in (
        refused.value.message
    )
    assert time.monotonic() - started < 60  # the worker's start, not the refusal, is slow
    assert (worker is not None) == confined


def test_qop_validate_refuses_a_file_that_declares_too_many_qubits(tmp_path: Path) -> None:
    circuit = tmp_path / "huge.qasm"
    circuit.write_text(Q2 + "qreg q[100000000];\n")
    done = qop("validate", str(circuit), env={**os.environ, "QOP_SANDBOX_WARM": "1"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "declares 100000000 qubits; at most 64 are allowed (QOP_MAX_QUBITS)" in done.stderr
