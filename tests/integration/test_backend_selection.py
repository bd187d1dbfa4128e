"""Backend selection through the whole pipeline `qop run` runs, with a catalogue of
the example QiskitBackends."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import yaml

from qiskit_operator.catalogue.refreshing import MemoryBackends
from qiskit_operator.local.pipeline import LocalPipeline
from qiskit_operator.models import Phase
from qiskit_operator.models.backend import QiskitBackend
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore
from tests.conftest import EXAMPLES, example


@pytest.fixture(scope="module")
def catalogue() -> MemoryBackends:
    return MemoryBackends(
        [
            QiskitBackend.model_validate(yaml.safe_load(path.read_text()))
            for path in sorted((EXAMPLES / "backends").glob("*.yaml"))
        ]
    )


@pytest.fixture(scope="module")
def store() -> MemoryStatusStore:
    return MemoryStatusStore()


@pytest.fixture(scope="module")
def pipeline(catalogue: MemoryBackends, store: MemoryStatusStore) -> Iterator[LocalPipeline]:
    with LocalPipeline(Settings.from_env(), store=store, catalogue=catalogue) as running:
        yield running


def test_a_job_runs_on_its_preferred_backend_while_it_is_available(
    pipeline: LocalPipeline,
) -> None:
    job = pipeline.run(example("bell-selected.yaml"))
    assert job.status is not None and job.status.phase is Phase.COMPLETED, job.status.message
    assert job.status.selected_backend == "fake_manila"
    assert job.status.fallback_used is False and job.status.original_backend is None
    selected = next(c for c in job.status.conditions if c.type == "BackendSelected")
    assert (selected.status, selected.reason) == ("True", "Preferred")


def test_a_job_falls_back_when_its_preferred_backend_is_marked_unavailable(
    pipeline: LocalPipeline, catalogue: MemoryBackends, store: MemoryStatusStore
) -> None:
    catalogue.items["ibm-fake-manila"].spec.availability = "Unavailable"
    manifest = copy.deepcopy(example("bell-selected.yaml"))
    manifest["metadata"]["name"] = "bell-fallback"
    try:
        job = pipeline.run(manifest)
    finally:
        catalogue.items["ibm-fake-manila"].spec.availability = "Available"
    assert job.status is not None and job.status.phase is Phase.COMPLETED, job.status.message
    assert job.status.selected_backend == "aer_simulator"
    assert (job.status.original_backend, job.status.fallback_used) == ("ibm-fake-manila", True)
    selected = next(c for c in job.status.conditions if c.type == "BackendSelected")
    assert selected.reason == "Fallback" and "ibm-fake-manila is Unavailable" in selected.message
    fallbacks = [e for e in store.events if e.job == "default/bell-fallback"]
    assert [e.reason for e in fallbacks if e.type == "Warning"] == ["FallbackUsed"]


def test_with_no_catalogue_a_job_that_allows_it_falls_back_to_aer() -> None:
    with LocalPipeline(Settings.from_env(), store=MemoryStatusStore()) as alone:
        job = alone.run(example("bell-selected.yaml"))
    assert job.status is not None and job.status.phase is Phase.COMPLETED, job.status.message
    assert job.status.selected_backend == "aer_simulator" and job.status.fallback_used is True
