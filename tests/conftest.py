"""Fixtures shared by every test: the example jobs and one warm sandbox."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from qiskit_operator import metrics
from qiskit_operator.events import payloads
from qiskit_operator.logs import JsonFormatter
from qiskit_operator.sandbox.pool import SandboxPool

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"

BELL_PYTHON = """from qiskit import QuantumCircuit

qc = QuantumCircuit(2, 2)
qc.h(0)
qc.cx(0, 1)
qc.measure([0, 1], [0, 1])
"""

BELL_QASM2 = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0], q[1];
measure q -> c;
"""


def bell_circuit() -> QuantumCircuit:
    """Bell with both qubits measured, built the usual way."""
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return loaded


def job_manifest(name: str = "bell", code: str = BELL_PYTHON, **execution: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(example("bell.yaml"))
    manifest["metadata"]["name"] = name
    manifest["spec"]["circuit"]["code"] = code
    manifest["spec"]["execution"].update(execution)
    return manifest


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxPool]:
    # The wall-clock limit well above the CPU limit: on a loaded 2-core machine a busy
    # loop gets a third of a core, and must still be stopped by its CPU limit first.
    pool = SandboxPool(warm=2, cpu_seconds=5, memory_bytes=512 << 20, timeout=45)
    assert pool.wait_warm(60), "the sandbox zygote did not start"
    yield pool
    pool.close()


class JsonLines(logging.Handler):
    """Formats each record as it is emitted, while its event's log context is bound."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def value(name: str, **labels: str) -> float:
    """A sample of the functions' Prometheus registry now (0 when it has none)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


class Counted:
    """The change of one sample across a block: `with Counted(name, **labels) as c`."""

    def __init__(self, name: str, **labels: str) -> None:
        self.name, self.labels = name, labels
        self.before = 0.0
        self.by = 0.0

    def __enter__(self) -> Counted:
        self.before = value(self.name, **self.labels)
        return self

    def __exit__(self, *_: object) -> None:
        self.by = value(self.name, **self.labels) - self.before


def claimed_completion(
    job: payloads.JobRef,
    location: str | None,
    output: payloads.OutputRequest | None = None,
    shots: int = 1,
) -> payloads.JobCompleted:
    """A `job.completed` as execute would send it for `job`: what the claims tests forge."""
    return payloads.JobCompleted(
        job=job,
        counts={"00": shots},
        shots=shots,
        backend="aer_simulator",
        method="stabilizer",
        seed=1,
        transpiled=False,
        transpile_seconds=0.0,
        execution_seconds=0.0,
        location=location,
        output=output,
    )
