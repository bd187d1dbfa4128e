"""The client's Sampler and Estimator against a real kube-apiserver with the whole stack
(functions as processes, Knative's ApiServerSource adapter), held against Qiskit's own
StatevectorSampler and StatevectorEstimator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from qiskit import QuantumCircuit
from qiskit.providers import JobStatus

from qiskit_operator.client import Estimator, JobFailedError, Sampler
from qiskit_operator.client.pubs import RUN_LABEL
from qiskit_operator.errors import UserError
from qiskit_operator.local.devcluster import DevCluster
from qiskit_operator.local.stack import Stack
from tests import primitives_proof as proof
from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def sampler_for(stack: Stack, **options: object) -> Sampler:
    return Sampler(kubeconfig=str(stack.cluster.kubeconfig), seed=proof.SEED, **options)  # type: ignore[arg-type]


def test_cluster_sampler_results_match_qiskits_statevector_sampler(stack: Stack) -> None:
    pubs = proof.sampler_pubs()
    job = sampler_for(stack, timeout=180).run(pubs, shots=500)
    ours = job.result()
    proof.assert_sampler_agrees(ours, proof.qiskit_sampled(pubs, 500))
    assert job.done() and job.status() == JobStatus.DONE
    # One QiskitJob per pub, named after the call and labelled with it.
    listed = json.loads(
        stack.kubectl("get", "qjob", "-l", f"{RUN_LABEL}={job.job_id()}", "-o", "json").stdout
    )
    names = sorted(item["metadata"]["name"] for item in listed["items"])
    assert names == [f"{job.job_id()}-{i}" for i in range(4)] == job.names
    assert {item["status"]["phase"] for item in listed["items"]} == {"Completed"}


def test_cluster_estimator_results_match_qiskits_statevector_estimator(stack: Stack) -> None:
    pubs = proof.estimator_pubs()
    estimator = Estimator(kubeconfig=str(stack.cluster.kubeconfig), timeout=180)
    ours = estimator.run(pubs).result()
    proof.assert_estimator_agrees(ours, proof.qiskit_estimated(pubs), pubs)


def test_one_pub_is_one_qiskitjob_named_by_the_job_id(stack: Stack) -> None:
    job = sampler_for(stack, timeout=180).run([proof.bell_measure_all()])
    counts = job.result()[0].data.meas.get_counts()
    assert set(counts) == {"00", "11"} and sum(counts.values()) == 1024
    phase = stack.kubectl("get", "qjob", job.job_id(), "-o", "jsonpath={.status.phase}").stdout
    assert phase == "Completed"


def test_an_empty_pub_list_submits_nothing_and_gives_an_empty_result(stack: Stack) -> None:
    ours = sampler_for(stack).run([]).result()
    assert (len(ours), ours.metadata) == (0, {"version": 2})


def test_a_failed_job_on_the_cluster_raises_with_its_message(stack: Stack) -> None:
    tee = QuantumCircuit(1)
    tee.t(0)
    tee.measure_all()
    job = sampler_for(stack, backend={"method": "stabilizer"}, timeout=180).run([tee])
    with pytest.raises(JobFailedError, match=r"ended Failed: .*stabilizer"):
        job.result()
    assert job.status() == JobStatus.ERROR and job.in_final_state()


def test_cancel_sets_spec_cancel_keeps_the_qiskitjob_then_says_cancelled(
    quiet_cluster: DevCluster,
) -> None:
    # No stack watches this control plane: the job waits Pending until it is cancelled.
    sampler = Sampler(kubeconfig=str(quiet_cluster.kubeconfig), timeout=60)
    job = sampler.run([proof.bell_two_two()])
    assert job.status() == JobStatus.INITIALIZING and not job.in_final_state()
    job.cancel()
    assert job.cancelled() and job.status() == JobStatus.CANCELLED and job.in_final_state()
    kept = quiet_cluster.kubectl("get", "qjob", job.job_id(), "-o", "jsonpath={.spec.cancel}")
    assert kept.stdout == "true"
    with pytest.raises(JobFailedError, match=r"cancelled \(spec.cancel\)"):
        job.result()


def test_a_job_the_api_server_refuses_is_a_clear_error_at_run(stack: Stack) -> None:
    with pytest.raises(UserError, match=r"refused qiskitjob .*shots"):
        sampler_for(stack).run([proof.bell_two_two()], shots=1_000_000)


def test_the_client_tour_runs_on_the_cluster_and_matches_qiskit(
    stack: Stack, tmp_path: Path
) -> None:
    tour = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "client_tour.py"), "-n", "default"],
        cwd=tmp_path,
        env={**os.environ, "KUBECONFIG": str(stack.cluster.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert tour.returncode == 0, tour.stdout + tour.stderr[-3000:]
    assert "all match Qiskit's own primitives" in tour.stdout
