"""The client's Sampler and Estimator with local=True (the embedded pipeline), held
against Qiskit's own StatevectorSampler and StatevectorEstimator."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from qiskit import QuantumCircuit
from qiskit.primitives import BasePrimitiveJob, PrimitiveResult
from qiskit.providers import JobStatus

from qiskit_operator.client import Estimator, JobFailedError, Sampler
from tests import primitives_proof as proof
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def sampler() -> Iterator[Sampler]:
    with Sampler(local=True, seed=proof.SEED) as running:
        yield running


@pytest.fixture(scope="module")
def estimator() -> Iterator[Estimator]:
    with Estimator(local=True, seed=proof.SEED) as running:
        yield running


def test_local_sampler_results_match_qiskits_statevector_sampler(sampler: Sampler) -> None:
    pubs = proof.sampler_pubs()
    job = sampler.run(pubs, shots=500)
    assert isinstance(job, BasePrimitiveJob)
    ours = job.result()
    proof.assert_sampler_agrees(ours, proof.qiskit_sampled(pubs, 500))
    assert job.status() == JobStatus.DONE and job.done() and job.in_final_state()
    assert ours[0].data.meas.num_shots == 400  # the pub's own shots won over the run's
    assert set(ours[0].data.meas.get_counts()) == {"00", "11"}
    assert set(ours[1].data.c.get_counts()) == {"00", "11"}


def test_local_estimator_results_match_qiskits_statevector_estimator(
    estimator: Estimator,
) -> None:
    pubs = proof.estimator_pubs()
    ours = estimator.run(pubs).result()
    proof.assert_estimator_agrees(ours, proof.qiskit_estimated(pubs), pubs)
    assert ours[0].data.evs.shape == (3, 4)


def test_an_empty_pub_list_gives_an_empty_result_as_qiskits_do(
    sampler: Sampler, estimator: Estimator
) -> None:
    for ours, theirs in (
        (sampler.run([]).result(), proof.qiskit_sampled([], 10)),
        (estimator.run([]).result(), proof.qiskit_estimated([])),
    ):
        assert isinstance(ours, PrimitiveResult)
        assert (len(ours), ours.metadata) == (len(theirs), theirs.metadata) == (0, {"version": 2})


def test_a_failed_local_job_raises_with_the_jobs_own_message() -> None:
    tee = QuantumCircuit(1)
    tee.t(0)  # not a Clifford gate, which the stabilizer method cannot run
    tee.measure_all()
    with Sampler(local=True, backend={"method": "stabilizer"}) as sampler:
        job = sampler.run([tee])
        with pytest.raises(JobFailedError, match=r"ended Failed: .*stabilizer"):
            job.result()
        assert job.status() == JobStatus.ERROR


def test_a_sampler_pub_that_measures_nothing_is_refused_before_anything_runs(
    sampler: Sampler,
) -> None:
    with pytest.raises(ValueError, match="measure_all"):
        sampler.run([QuantumCircuit(1)])


def test_the_client_tour_runs_locally_and_matches_qiskit(tmp_path: Path) -> None:
    tour = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "client_tour.py"), "--local"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert tour.returncode == 0, tour.stdout + tour.stderr[-3000:]
    assert "all match Qiskit's own primitives" in tour.stdout
