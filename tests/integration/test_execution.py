"""Execute checked on physics, not shapes: the answers a physicist expects, through the
whole pipeline, and the full results where the job says they go."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from qiskit_operator.local.pipeline import LocalPipeline
from qiskit_operator.models import Phase, QiskitJob
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore
from tests.conftest import BELL_PYTHON, example

BELL_STATE = """from qiskit import QuantumCircuit
qc = QuantumCircuit(2)
qc.h(0)
qc.cx(0, 1)
"""
RY_SWEEP = """from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
theta = Parameter("theta")
qc = QuantumCircuit(1, 1)
qc.ry(theta, 0)
qc.measure(0, 0)
"""


def ghz(qubits: int) -> str:
    return (
        f"from qiskit import QuantumCircuit\nqc = QuantumCircuit({qubits})\nqc.h(0)\n"
        f"for i in range({qubits - 1}):\n    qc.cx(i, i + 1)\nqc.measure_all()\n"
    )


def uniform(qubits: int) -> str:
    """Every outcome equally likely: as many outcomes as a circuit can have."""
    return (
        f"from qiskit import QuantumCircuit\nqc = QuantumCircuit({qubits})\n"
        f"qc.h(range({qubits}))\nqc.measure_all()\n"
    )


def job(
    name: str,
    code: str,
    execution: dict[str, Any] | None = None,
    backend: dict[str, Any] | None = None,
    output: dict[str, Any] | None = None,
) -> dict[str, Any]:
    manifest = copy.deepcopy(example("bell.yaml"))
    manifest["metadata"]["name"] = name
    manifest["spec"]["circuit"]["code"] = code
    manifest["spec"]["execution"] = {"shots": 4000, "seed": 11, **(execution or {})}
    if backend:
        manifest["spec"]["backend"].update(backend)
    if output:
        manifest["spec"]["output"] = output
    return manifest


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="module")
def store() -> MemoryStatusStore:
    return MemoryStatusStore()


@pytest.fixture(scope="module")
def pipeline(results_dir: Path, store: MemoryStatusStore) -> Iterator[LocalPipeline]:
    settings = replace(Settings.from_env(), results_dir=results_dir)
    with LocalPipeline(settings, store=store) as running:
        yield running


def completed(job: QiskitJob) -> QiskitJob:
    assert job.status is not None and job.status.phase is Phase.COMPLETED, (
        job.status.message if job.status else "no status"
    )
    return job


def test_estimator_gives_zz_and_xx_of_one_on_a_bell_state(pipeline: LocalPipeline) -> None:
    done = completed(
        pipeline.run(
            job(
                "bell-estimator",
                BELL_STATE,
                {"primitive": "estimator", "observables": ["ZZ", "XX", "0.5*ZI + 0.5*IZ"]},
            )
        )
    )
    assert done.status is not None and done.status.results is not None
    values = done.status.results.expectation_values
    assert values == pytest.approx([1.0, 1.0, 0.0], abs=1e-9)
    assert done.status.results.standard_errors == [0.0, 0.0, 0.0]


def test_a_sweep_of_ry_gives_sin_squared_half_theta(pipeline: LocalPipeline) -> None:
    thetas = [i * math.pi / 8 for i in range(9)]
    shots = 4000
    done = completed(
        pipeline.run(
            job("ry-sweep", RY_SWEEP, {"parameterValues": [[t] for t in thetas], "shots": shots})
        )
    )
    assert done.status is not None and done.status.results is not None
    sweep = done.status.results.sweep
    assert sweep is not None and [entry.parameters for entry in sweep] == [[t] for t in thetas]
    for entry in sweep:
        expected = math.sin(entry.parameters[0] / 2) ** 2
        measured = (entry.counts or {}).get("1", 0) / shots
        sigma = math.sqrt(max(expected * (1 - expected), 1e-4) / shots)
        assert abs(measured - expected) <= 5 * sigma + 1e-9, (entry.parameters, measured)


def test_an_estimator_sweep_follows_cos_theta(pipeline: LocalPipeline) -> None:
    code = RY_SWEEP.replace("qc.measure(0, 0)\n", "")
    thetas = [0.0, math.pi / 3, math.pi / 2, math.pi]
    done = completed(
        pipeline.run(
            job(
                "ry-estimator",
                code,
                {
                    "primitive": "estimator",
                    "observables": ["Z"],
                    "parameterValues": [[t] for t in thetas],
                },
            )
        )
    )
    assert done.status is not None and done.status.results is not None
    sweep = done.status.results.sweep or []
    assert [e.expectation_values[0] for e in sweep if e.expectation_values] == pytest.approx(
        [math.cos(t) for t in thetas], abs=1e-9
    )


def test_a_noisy_bell_shows_the_outcomes_a_perfect_one_never_does(pipeline: LocalPipeline) -> None:
    noisy = completed(
        pipeline.run(job("bell-noisy", BELL_PYTHON, backend={"noiseModel": "generic_backend_2q"}))
    )
    ideal = completed(pipeline.run(job("bell-ideal", BELL_PYTHON)))
    assert noisy.status is not None and noisy.status.results is not None
    assert ideal.status is not None and ideal.status.results is not None
    assert set(ideal.status.results.counts or {}) == {"00", "11"}
    counts = noisy.status.results.counts or {}
    assert counts.get("01", 0) + counts.get("10", 0) > 0
    assert noisy.status.results.reproducibility is not None
    assert noisy.status.results.reproducibility.noise_model == "generic_backend_2q"


def test_a_40_qubit_ghz_completes_with_the_stabilizer_method(pipeline: LocalPipeline) -> None:
    done = completed(pipeline.run(job("ghz-40", ghz(40), {"shots": 1000})))
    assert done.status is not None and done.status.results is not None
    assert set(done.status.results.counts or {}) == {"0" * 40, "1" * 40}
    assert done.status.metrics is not None and done.status.metrics.method == "stabilizer"


def test_a_34_qubit_statevector_circuit_is_refused_before_running(pipeline: LocalPipeline) -> None:
    code = (
        "from qiskit.circuit.library import quantum_volume\n"
        "qc = quantum_volume(34, depth=2, seed=3)\nqc.measure_all()\n"
    )
    refused = pipeline.run(job("sv-34", code, backend={"method": "statevector"}))
    assert refused.status is not None and refused.status.phase is Phase.FAILED
    message = refused.status.message or ""
    assert "34 qubits" in message and "256.0 GiB" in message
    assert "matrix_product_state" in message  # a method that would fit
    assert refused.status.results is None  # nothing ran


def test_the_status_keeps_the_top_16_outcomes_and_counts_them_all(pipeline: LocalPipeline) -> None:
    code = uniform(6)
    done = completed(pipeline.run(job("many-outcomes", code, {"shots": 20000})))
    assert done.status is not None and done.status.results is not None
    assert len(done.status.results.counts or {}) == 16
    assert done.status.results.outcomes == 64


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_configmap_output_holds_the_full_result_owned_by_the_job(
    pipeline: LocalPipeline, store: MemoryStatusStore, fmt: str
) -> None:
    code = uniform(5)
    done = completed(
        pipeline.run(
            job(
                f"to-configmap-{fmt}",
                code,
                {"shots": 8000},
                output={"type": "configmap", "format": fmt},
            )
        )
    )
    assert done.status is not None and done.status.results is not None
    name = f"to-configmap-{fmt}-results"
    assert done.status.results.location == f"configmap://default/{name}"
    configmap = store.configmaps[("default", name)]
    assert configmap.owner_uid == done.metadata.uid
    text = configmap.data[f"result.{fmt}"]
    if fmt == "json":
        document = json.loads(text)
        assert sum(document["points"][0]["counts"].values()) == 8000
        assert len(document["points"][0]["counts"]) == 32
        assert document["reproducibility"]["seed"] == 11
    else:
        rows = text.strip().splitlines()
        assert rows[0] == "binding,outcome,count"
        assert len(rows) == 33


def test_a_pvc_output_is_a_file_under_its_namespaces_folder_of_the_results_volume(
    pipeline: LocalPipeline, results_dir: Path
) -> None:
    done = completed(
        pipeline.run(
            job(
                "to-pvc",
                RY_SWEEP,
                {"parameterValues": [[0.0], [3.14]]},
                output={"type": "pvc", "location": "results", "path": "team/ry.json"},
            )
        )
    )
    assert done.status is not None and done.status.results is not None
    path = results_dir / "default" / "team" / "ry.json"  # under the job's namespace
    assert done.status.results.location == path.resolve().as_uri()
    document = json.loads(path.read_text())
    assert [p["parameters"] for p in document["points"]] == [[0.0], [3.14]]
    assert document["reproducibility"]["qiskit"]


def test_a_result_too_big_for_a_configmap_fails_with_what_to_do(pipeline: LocalPipeline) -> None:
    code = uniform(20)
    refused = pipeline.run(job("too-big", code, {"shots": 100000}, output={"type": "configmap"}))
    assert refused.status is not None and refused.status.phase is Phase.FAILED
    assert "900 KiB" in (refused.status.message or "")
    assert "output.type: pvc" in (refused.status.message or "")


def test_max_execution_time_stops_a_long_simulation(pipeline: LocalPipeline) -> None:
    code = (
        "from qiskit.circuit.library import quantum_volume\n"
        "qc = quantum_volume(22, depth=12, seed=5)\nqc.measure_all()\n"
    )
    stopped = pipeline.run(
        job(
            "too-slow",
            code,
            {"shots": 10, "maxExecutionTime": "300ms", "optimizationLevel": 0},
            backend={"method": "statevector"},
        )
    )
    assert stopped.status is not None and stopped.status.phase is Phase.FAILED
    assert "maxExecutionTime (0.3 s)" in (stopped.status.message or "")
    quick = completed(pipeline.run(job("quick-enough", BELL_PYTHON, {"maxExecutionTime": "30s"})))
    assert quick.status is not None and quick.status.results is not None
    assert set(quick.status.results.counts or {}) == {"00", "11"}


@pytest.mark.parametrize(
    ("execution", "words"),
    [
        ({"primitive": "estimator"}, "observables is required"),
        ({"primitive": "estimator", "observables": ["ZZZ"]}, "3-qubit term"),
        ({"observables": ["ZZ"]}, "are for the estimator"),
        ({"parameterValues": [[0.1]]}, "row 0 has 1 values but the circuit has 0"),
        ({"maxExecutionTime": "soon"}, "not a duration"),
    ],
)
def test_mistakes_in_the_execution_spec_fail_before_any_simulation(
    pipeline: LocalPipeline, execution: dict[str, Any], words: str
) -> None:
    name = "bad-" + str(abs(hash(json.dumps(execution))))[:8]
    refused = pipeline.run(
        job(name, BELL_STATE if "primitive" in execution else BELL_PYTHON, execution)
    )
    assert refused.status is not None and refused.status.phase is Phase.FAILED
    assert words in (refused.status.message or "")


def test_an_unbound_parameter_says_to_give_parameter_values(pipeline: LocalPipeline) -> None:
    refused = pipeline.run(job("unbound", RY_SWEEP))
    assert refused.status is not None and refused.status.phase is Phase.FAILED
    assert "parameterValues" in (refused.status.message or "")
