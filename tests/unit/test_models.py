"""The QiskitJob model: what users write is read as they mean it, and written back the same."""

from __future__ import annotations

import pydantic
import pytest

from qiskit_operator.events.apiserver import describe_validation_error
from qiskit_operator.models import QiskitJob
from qiskit_operator.models.phases import Phase, may_move
from tests.conftest import example
from tests.rule_violations import VIOLATIONS, Violation, every_rule


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
    assert may_move(Phase.RETRYING, Phase.RETRYING)  # each retry enters it anew
    assert not may_move(Phase.RETRYING, Phase.SCHEDULED)


@pytest.mark.parametrize("violation", VIOLATIONS, ids=[v.name for v in VIOLATIONS])
def test_a_manifest_breaking_a_rule_is_refused_with_the_rules_own_message(
    violation: Violation,
) -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        QiskitJob.model_validate(violation.manifest())
    section = next(iter(violation.sections))
    # The words the pipeline writes into status: the section, then the CRD's message.
    assert describe_validation_error(raised.value) == (
        f"invalid QiskitJob: spec.{section}: {violation.rule().message}"
    )


def test_every_rule_of_the_models_has_a_manifest_that_breaks_it() -> None:
    rules = every_rule()
    assert len(rules) >= 6
    assert {id(rule) for rule in rules} == {id(v.rule()) for v in VIOLATIONS}


def test_a_manifest_breaking_two_rules_hears_of_both() -> None:
    manifest = example("bell.yaml")
    manifest["spec"]["execution"] = {"observables": ["ZZ"], "parameterValues": [[1.0], []]}
    with pytest.raises(pydantic.ValidationError) as raised:
        QiskitJob.model_validate(manifest)
    assert "are for the estimator" in str(raised.value)
    assert "every row of execution.parameterValues" in str(raised.value)


def test_an_estimator_job_with_observables_and_an_even_sweep_is_accepted() -> None:
    manifest = example("bell.yaml")
    manifest["spec"]["execution"] = {
        "primitive": "estimator",
        "observables": ["ZZ"],
        "parameterValues": [[0.1, 0.2], [0.3, 0.4]],
    }
    job = QiskitJob.model_validate(manifest)
    assert job.spec.execution.parameter_values == [[0.1, 0.2], [0.3, 0.4]]
