"""The QiskitJob CRD: generated from the models, structural, and accepting the examples."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from qiskit_operator.crds import (
    BACKEND_FILENAME,
    BUDGET_FILENAME,
    FILENAME,
    SESSION_FILENAME,
    crd_for_qiskitjob,
    write_crds,
)
from tests.conftest import EXAMPLES, ROOT
from tests.rule_violations import VIOLATIONS, Violation

COMMITTED = ROOT / "crds" / FILENAME
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = crd_for_qiskitjob()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _nodes(node: dict[str, Any], where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node under `node`, with a path that names it in failures."""
    yield where or "<root>", node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{where}.{name}")
    if "items" in node:
        yield from _nodes(node["items"], f"{where}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{where}{{}}")


def _draft4_validator(schema: dict[str, Any]) -> Any:
    # OpenAPI v3.0's boolean exclusiveMinimum is draft 4's, so draft 4 reads it as kube does.
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def test_committed_crds_match_the_models(tmp_path: Path) -> None:
    written = write_crds(tmp_path)
    assert written == [
        tmp_path / FILENAME,
        tmp_path / BACKEND_FILENAME,
        tmp_path / SESSION_FILENAME,
        tmp_path / BUDGET_FILENAME,
    ]
    for path in written:
        committed = ROOT / "crds" / path.name
        assert path.read_bytes() == committed.read_bytes(), (
            f"{committed.relative_to(ROOT)} is out of date with qiskit_operator/models; "
            "run `qop crds` and commit the result"
        )


def test_schema_is_structural_with_no_refs_or_nulls() -> None:
    for where, node in _nodes(_schema()):
        assert not {"$ref", "$defs", "anyOf", "allOf", "oneOf", "not", "title"} & node.keys(), where
        assert node.get("type") != "null", where
        assert "default" not in node or node["default"] is not None, where
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields") is True, where
        if "properties" in node or "additionalProperties" in node:
            assert node["type"] == "object", where
            assert not ("properties" in node and "additionalProperties" in node), where
        assert not isinstance(node.get("additionalProperties"), bool), where
        if "enum" in node:
            assert node["type"] == "string", where


def test_top_level_holds_the_resource_envelope_and_requires_spec() -> None:
    schema = _schema()
    properties = schema["properties"]
    assert list(properties) == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert properties["apiVersion"] == {"type": "string"}
    assert properties["kind"] == {"type": "string"}
    assert properties["metadata"] == {"type": "object"}
    assert schema["required"] == ["spec"]
    assert properties["spec"]["required"] == ["circuit"]


def test_shots_bounds_and_primitive_enum_come_from_the_model() -> None:
    execution = _schema()["properties"]["spec"]["properties"]["execution"]["properties"]
    shots = execution["shots"]
    assert (shots["type"], shots["minimum"], shots["maximum"]) == ("integer", 1, 100_000)
    assert shots["default"] == 1024
    assert execution["primitive"]["enum"] == ["sampler", "estimator"]
    assert execution["primitive"]["default"] == "sampler"


def test_optional_fields_keep_their_description_but_lose_their_null_default() -> None:
    backend = _schema()["properties"]["spec"]["properties"]["backend"]["properties"]
    assert backend["name"] == {
        "description": "A specific backend, e.g. aer_simulator.",
        "type": "string",
    }


def test_precision_takes_the_openapi_boolean_exclusive_minimum() -> None:
    execution = _schema()["properties"]["spec"]["properties"]["execution"]["properties"]
    precision = execution["precision"]
    assert (precision["minimum"], precision["exclusiveMinimum"]) == (0, True)


def test_status_conditions_are_a_map_keyed_by_type() -> None:
    conditions = _schema()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert "type" in conditions["items"]["required"]
    assert conditions["items"]["properties"]["lastTransitionTime"]["format"] == "date-time"


def test_printer_columns_and_short_names() -> None:
    spec = crd_for_qiskitjob()["spec"]
    version = spec["versions"][0]
    columns = [(c["name"], c["type"], c["jsonPath"]) for c in version["additionalPrinterColumns"]]
    assert columns == [
        ("Phase", "string", ".status.phase"),
        ("Progress", "string", ".status.progress"),
        ("Backend", "string", ".status.selectedBackend"),
        ("Qubits", "integer", ".status.circuitMetadata.qubits"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]
    assert spec["names"]["shortNames"] == ["qjob", "qj"]
    assert spec["names"]["categories"] == ["quantum"]
    assert (spec["group"], spec["scope"]) == ("quantum.io", "Namespaced")
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert version["subresources"] == {"status": {}}


def test_every_default_is_valid_against_its_own_schema() -> None:
    # kube-apiserver refuses a CRD whose defaults its own schema would reject.
    defaulted = [(where, node) for where, node in _nodes(_schema()) if "default" in node]
    assert defaulted
    for where, node in defaulted:
        rest = {key: value for key, value in node.items() if key != "default"}
        errors = [e.message for e in _draft4_validator(rest).iter_errors(node["default"])]
        assert not errors, f"{where}: {errors}"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[path.name for path in EXAMPLE_FILES])
def test_example_manifest_is_valid_against_the_schema(path: Path) -> None:
    documents = list(yaml.safe_load_all(path.read_text()))
    jobs = [d for d in documents if d.get("kind") == "QiskitJob"]
    assert jobs, f"{path.name} holds no QiskitJob"
    for manifest in jobs:
        errors = [error.message for error in _draft4_validator(_schema()).iter_errors(manifest)]
        assert not errors, f"{path.name}: {errors}"


@pytest.mark.parametrize(
    ("execution", "field"),
    [
        ({"shots": 0}, "shots"),
        ({"shots": 100_001}, "shots"),
        ({"primitive": "counter"}, "primitive"),
        ({"precision": 0}, "precision"),
    ],
)
def test_manifest_outside_the_model_bounds_is_refused(
    execution: dict[str, object], field: str
) -> None:
    manifest = yaml.safe_load((EXAMPLES / "bell.yaml").read_text())
    manifest["spec"]["execution"].update(execution)
    errors = list(_draft4_validator(_schema()).iter_errors(manifest))
    assert [list(error.path)[-1] for error in errors] == [field]


def _rules_in_the_crd() -> dict[str, tuple[str, dict[str, Any]]]:
    """Each x-kubernetes-validations entry by its message, with where it sits."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for where, node in _nodes(_schema()):
        for rule in node.get("x-kubernetes-validations", []):
            assert rule["message"] not in found, f"two rules say {rule['message']!r}"
            found[rule["message"]] = (where, rule)
    return found


@pytest.mark.parametrize("violation", VIOLATIONS, ids=[v.name for v in VIOLATIONS])
def test_each_rule_sits_beside_its_model_with_the_models_message(violation: Violation) -> None:
    rule = violation.rule()
    where, written = _rules_in_the_crd()[rule.message]
    section = next(iter(violation.sections))
    expected_where = f".spec.{section}" + (f".{rule.field}" if rule.on_field else "")
    assert where == expected_where
    assert written["rule"] == rule.cel
    assert written["reason"] == rule.reason


def test_every_rule_in_the_crd_names_a_field_of_its_own_node() -> None:
    nodes = dict(_nodes(_schema()))
    rules = _rules_in_the_crd()
    assert len(rules) >= 6
    for where, rule in rules.values():
        assert list(rule)[:2] == ["rule", "message"]
        if "fieldPath" in rule:
            assert rule["fieldPath"].removeprefix(".") in nodes[where]["properties"], where
