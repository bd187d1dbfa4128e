"""The caches hold a process's memory to their bounds, and a noise model too large to
build is refused before anything is built. Memory is measured in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace

import pytest

from qiskit_operator import metrics
from qiskit_operator.local.pipeline import LocalPipeline
from qiskit_operator.models import Phase
from qiskit_operator.settings import Settings
from tests.conftest import BELL_PYTHON
from tests.integration.test_execution import completed, job

# Asks for the 38 backends of 90 to 127 qubits, and the noise model of each. Kept all,
# they add about 280 MiB to the process; the cache keeps 8, about 70 MiB.
MANY_LARGE_BACKENDS = """
import json
from qiskit_operator.circuits import backends
from qiskit_operator.errors import UserError
from qiskit_operator.execution.aer import AerRunner

def resident_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20

backends.device("generic_backend_5q")  # Qiskit's own first-use allocations
baseline = resident_mib()
runner = AerRunner(max_noise_model_qubits=32)
refusals = set()
for qubits in range(90, 128):
    backends.device(f"generic_backend_{qubits}q")
    try:
        runner.noise_model(f"generic_backend_{qubits}q")
    except UserError as error:
        refusals.add(error.reason)
print(json.dumps({
    "growth_mib": resident_mib() - baseline,
    "refusals": sorted(refusals),
    "backends": backends._DEVICES.counts().entries,
    "evictions": backends._DEVICES.counts().evictions,
    "noise_models": runner.cache_counts()[0].entries,
}))
"""
BOUND_MIB = 160


def test_asking_for_many_large_backends_keeps_the_process_under_its_memory_bound() -> None:
    finished = subprocess.run(
        [sys.executable, "-c", MANY_LARGE_BACKENDS],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    measured = json.loads(finished.stdout)
    assert measured["backends"] == 8
    assert measured["evictions"] == 38 + 1 - 8
    assert measured["refusals"] == ["NoiseModelTooLarge"]
    assert measured["noise_models"] == 0
    assert measured["growth_mib"] < BOUND_MIB, measured


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    settings = replace(Settings.from_env(), results_dir=tmp_path_factory.mktemp("results"))
    with LocalPipeline(settings) as running:
        yield running


def test_a_noise_model_of_127_qubits_fails_the_job_naming_the_setting(
    pipeline: LocalPipeline,
) -> None:
    refused = pipeline.run(
        job("noisy-127", BELL_PYTHON, backend={"noiseModel": "generic_backend_127q"})
    )
    assert refused.status is not None and refused.status.phase is Phase.FAILED
    assert "QOP_MAX_NOISE_MODEL_QUBITS" in (refused.status.message or "")


def test_a_backend_with_a_leading_zero_fails_the_job_naming_its_spelling(
    pipeline: LocalPipeline,
) -> None:
    refused = pipeline.run(
        job("noisy-zero", BELL_PYTHON, backend={"noiseModel": "generic_backend_02q"})
    )
    assert refused.status is not None and refused.status.phase is Phase.FAILED
    assert "'generic_backend_2q'" in (refused.status.message or "")


def test_a_noisy_job_runs_in_the_worker_whose_cache_counts_reach_the_metrics(
    pipeline: LocalPipeline,
) -> None:
    def worker(name: str, cache: str) -> float:
        labels = {"cache": cache, "process": "simulation_worker"}
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    built = worker("qop_cache_misses_total", "noise_models")
    reused = worker("qop_cache_hits_total", "simulators")
    noisy = {"noiseModel": "generic_backend_3q"}
    completed(pipeline.run(job("noisy-first", BELL_PYTHON, backend=noisy)))
    completed(pipeline.run(job("noisy-again", BELL_PYTHON, backend=noisy)))
    # Built once; the second job found the noisy simulator the first one left.
    assert worker("qop_cache_misses_total", "noise_models") == built + 1
    assert worker("qop_cache_hits_total", "simulators") == reused + 1
    assert worker("qop_cache_entries", "noise_models") == 1


def test_building_a_noise_model_is_stopped_at_the_jobs_time_limit(
    pipeline: LocalPipeline,
) -> None:
    # The noise model of 32 qubits takes about 9 s of CPU to build, inside the worker.
    stopped = pipeline.run(
        job(
            "noisy-slow",
            BELL_PYTHON,
            {"maxExecutionTime": "1s"},
            backend={"noiseModel": "generic_backend_32q"},
        )
    )
    assert stopped.status is not None and stopped.status.phase is Phase.FAILED
    assert "maxExecutionTime (1 s)" in (stopped.status.message or "")
