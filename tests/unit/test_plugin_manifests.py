"""What `kubectl qiskit run FILE` makes of a circuit file, and what `results` prints."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from qiskit_operator.errors import UserError
from qiskit_operator.models import QiskitJob
from qiskit_operator.plugin.commands import main
from qiskit_operator.plugin.manifests import generated_name, job_from_file
from qiskit_operator.plugin.showing import results_text
from tests.conftest import BELL_QASM2, bell_circuit


def test_a_qasm_file_becomes_a_valid_job_with_its_text_inline(tmp_path: Path) -> None:
    path = tmp_path / "Bell Pair.qasm"
    path.write_text(BELL_QASM2)
    manifest = job_from_file(path, namespace="team-a", shots=100, backend="aer_simulator")
    job = QiskitJob.model_validate(manifest)
    assert job.spec.circuit.format == "qasm2" and job.spec.circuit.code == BELL_QASM2
    assert job.spec.execution.shots == 100 and job.spec.backend.name == "aer_simulator"
    assert job.metadata.namespace == "team-a"
    assert job.metadata.name.startswith("bell-pair-")


def test_a_qpy_file_travels_base64_encoded(tmp_path: Path) -> None:
    from qiskit_operator.circuits.serialization import to_qpy

    path = tmp_path / "bell.qpy"
    path.write_bytes(to_qpy(bell_circuit()))
    circuit = job_from_file(path, namespace="default", name="b")["spec"]["circuit"]
    assert circuit["format"] == "qpy"
    assert base64.b64decode(circuit["code"]) == path.read_bytes()


def test_a_binary_file_that_is_not_qpy_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "bell.bin"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UserError, match=r"must be QPY, named \*\.qpy"):
        job_from_file(path, namespace="default")


def test_generated_names_are_kubernetes_names_and_differ() -> None:
    first, second = generated_name(Path("My_Circuit.v2.py")), generated_name(Path("x.py"))
    assert first.startswith("my-circuit-v2-") and first != generated_name(Path("My_Circuit.v2.py"))
    assert second.startswith("x-")


def test_an_estimator_job_shows_a_table_of_values() -> None:
    job = QiskitJob.model_validate(
        {
            "metadata": {"name": "e"},
            "spec": {
                "circuit": {"code": "x"},
                "execution": {"primitive": "estimator", "observables": ["ZZ", "XX"]},
            },
            "status": {
                "phase": "Completed",
                "results": {"expectationValues": [1.0, -0.5], "standardErrors": [0.0, 0.01]},
            },
        }
    )
    lines = results_text(job, None)
    assert lines[1].split() == ["OBSERVABLE", "VALUE", "STD", "ERROR"]
    assert lines[2].split() == ["ZZ", "+1.000000", "0.000000"]
    assert lines[3].split() == ["XX", "-0.500000", "0.010000"]


def test_a_wrong_command_line_exits_2_as_kubectl_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["results"])
    assert exited.value.code == 2
    assert "usage: kubectl qiskit" in capsys.readouterr().err
