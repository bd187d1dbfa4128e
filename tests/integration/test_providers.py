"""Jobs on each provider family's local mode, through the whole pipeline `qop run`
runs: a fake IBM device (its noise shows) and Braket's local simulator."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from qiskit_operator.local.pipeline import LocalPipeline
from qiskit_operator.models import Phase, QiskitJob
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore
from tests.conftest import example


@pytest.fixture(scope="module")
def pipeline() -> Iterator[LocalPipeline]:
    with LocalPipeline(Settings.from_env(), store=MemoryStatusStore()) as running:
        yield running


def completed_counts(job: QiskitJob) -> dict[str, int]:
    assert job.status is not None and job.status.phase is Phase.COMPLETED, (
        job.status.message if job.status else "no status"
    )
    assert job.status.results is not None and job.status.results.counts is not None
    return job.status.results.counts


def test_a_bell_pair_on_a_fake_ibm_device_shows_the_devices_noise(
    pipeline: LocalPipeline,
) -> None:
    job = pipeline.run(example("ibm-fake-device.yaml"))
    counts = completed_counts(job)
    assert sum(counts.values()) == 4000
    assert counts["00"] + counts["11"] > 3000  # still a Bell pair
    assert counts.get("01", 0) + counts.get("10", 0) > 0  # but a noisy one
    assert job.status is not None and job.status.selected_backend == "fake_manila"
    reproducibility = job.status.results and job.status.results.reproducibility
    assert reproducibility and "simulated locally" in reproducibility.method


def test_the_circuit_metadata_says_what_the_device_runs_after_transpiling(
    pipeline: LocalPipeline,
) -> None:
    manifest = copy.deepcopy(example("ibm-fake-device.yaml"))
    manifest["metadata"]["name"] = "bell-fake-manila-metadata"
    job = pipeline.run(manifest)
    assert job.status is not None and job.status.circuit_metadata is not None
    metadata = job.status.circuit_metadata
    assert (metadata.depth, metadata.gate_types.get("h")) == (3, 1)  # as written
    assert metadata.transpiled_for == "fake_manila"
    assert metadata.transpiled_two_qubit_gates == 1
    # Manila has no h: it becomes rz, sx, rz, so the device runs a deeper circuit.
    assert metadata.transpiled_depth is not None and metadata.transpiled_depth > metadata.depth


def test_the_same_seed_on_a_fake_ibm_device_gives_the_same_counts(
    pipeline: LocalPipeline,
) -> None:
    again = copy.deepcopy(example("ibm-fake-device.yaml"))
    again["metadata"]["name"] = "bell-fake-manila-again"
    first = completed_counts(pipeline.run(example("ibm-fake-device.yaml")))
    assert completed_counts(pipeline.run(again)) == first


def test_the_estimator_on_a_fake_ibm_device_measures_a_noisy_bell_state(
    pipeline: LocalPipeline,
) -> None:
    manifest = copy.deepcopy(example("ibm-fake-device.yaml"))
    manifest["metadata"]["name"] = "bell-fake-manila-estimator"
    manifest["spec"]["execution"].update(primitive="estimator", observables=["ZZ", "ZI"])
    job = pipeline.run(manifest)
    assert job.status is not None and job.status.phase is Phase.COMPLETED, job.status.message
    assert job.status.results is not None
    zz, zi = job.status.results.expectation_values or []
    assert 0.7 < zz < 1.0  # below 1: the device's noise
    assert abs(zi) < 0.2


def test_a_bell_pair_on_braket_s_local_simulator_gives_only_00_and_11(
    pipeline: LocalPipeline,
) -> None:
    job = pipeline.run(example("braket-local.yaml"))
    counts = completed_counts(job)
    assert set(counts) == {"00", "11"}
    assert sum(counts.values()) == 1000
    assert job.status is not None and job.status.selected_backend == "braket_local"


def test_a_job_asking_braket_for_the_estimator_is_rejected_saying_why(
    pipeline: LocalPipeline,
) -> None:
    manifest = copy.deepcopy(example("braket-local.yaml"))
    manifest["metadata"]["name"] = "braket-estimator"
    manifest["spec"]["execution"].update(primitive="estimator", observables=["ZZ"])
    job = pipeline.run(manifest)
    assert job.status is not None and job.status.phase is Phase.FAILED
    assert job.status.message == (
        "braket_local (braket) runs the sampler, not the estimator; "
        "set execution.primitive to sampler"
    )


def test_a_circuit_wider_than_its_fake_device_is_rejected_before_it_runs(
    pipeline: LocalPipeline,
) -> None:
    manifest = copy.deepcopy(example("ibm-fake-device.yaml"))
    manifest["metadata"]["name"] = "too-wide-for-manila"
    manifest["spec"]["circuit"]["code"] = (
        'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[6];\ncreg c[6];\nh q[0];\nmeasure q -> c;\n'
    )
    job = pipeline.run(manifest)
    assert job.status is not None and job.status.phase is Phase.FAILED
    assert "fake_manila (ibm_runtime) has 5 qubits but the circuit has 6" in (
        job.status.message or ""
    )
