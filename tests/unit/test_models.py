"""The QiskitJob model: what users write is read as they mean it, and written back the same."""

from __future__ import annotations

import pydantic
import pytest

from qiskit_operator.models import QiskitJob
from qiskit_operator.models.phases import Phase, may_move
from tests.conftest import example


def test_example_job_round_trips_with_camel_case_names() -> None:
    manifest = example("bell.yaml")
    job = QiskitJob.model_validate(manifest)
    wire = job.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert wire["spec"]["execution"]["optimizationLevel"] == 1
    assert wire["spec"]["circuit"]["code"] == manifest["spec"]["circuit"]["code"]
    assert QiskitJob.model_validate(wire) == job


def test_defaults_match_the_original_operator() -> None:
    job = QiskitJob.model_validate(
        {
            "apiVersion": "quantum.io/v1",
            "kind": "QiskitJob",
            "metadata": {"name": "j"},
            "spec": {"circuit": {"code": "OPENQASM 2.0;"}},
        }
    )
    assert job.spec.execution.shots == 1024
    assert job.spec.execution.optimization_level == 1
    assert job.spec.backend.type == "local_simulator"
    assert job.spec.circuit.source == "inline"
    assert job.metadata.namespace == "default"


@pytest.mark.parametrize(
    ("execution", "field"),
    [
        ({"shots": 0}, "shots"),
        ({"shots": 100_001}, "shots"),
        ({"optimizationLevel": 4}, "optimizationLevel"),
        ({"primitive": "counter"}, "primitive"),
        ({"shot": 10}, "shot"),
    ],
)
def test_out_of_range_or_unknown_execution_fields_are_refused(
    execution: dict[str, object], field: str
) -> None:
    manifest = example("bell.yaml")
    manifest["spec"]["execution"] = execution
    with pytest.raises(pydantic.ValidationError) as raised:
        QiskitJob.model_validate(manifest)
    assert field in str(raised.value)


def test_a_configmap_source_without_its_reference_is_refused_with_the_field_named() -> None:
    manifest = example("bell.yaml")
    manifest["spec"]["circuit"] = {"source": "configmap"}
    with pytest.raises(pydantic.ValidationError, match=r"circuit\.configMapRef is required"):
        QiskitJob.model_validate(manifest)


def test_phases_never_move_backwards_or_out_of_a_final_phase() -> None:
    assert may_move(None, Phase.VALIDATING)
    assert may_move(Phase.VALIDATING, Phase.SCHEDULED)
    assert not may_move(Phase.SCHEDULED, Phase.VALIDATING)
    assert not may_move(Phase.COMPLETED, Phase.FAILED)
    assert not may_move(Phase.FAILED, Phase.COMPLETED)
    assert may_move(Phase.RUNNING, Phase.RETRYING)
