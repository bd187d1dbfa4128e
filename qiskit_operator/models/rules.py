"""Cross-field rules of the models, said once for pydantic and once for the API server.

A model lists its rules in `rules`. `ResourceModel` checks each `holds` when a
model is built (so `qop run` and the pipeline refuse what the cluster refuses),
and puts each rule's CEL under `x-kubernetes-validations` in the model's JSON
Schema, which `qiskit_operator.crds` carries into the CRD. Both refuse with the
same message, so a user reads the same words from `kubectl apply` and from a
Failed job. tests/e2e/test_admission.py shows the API server agrees with the
Python, rule by rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar

Model = TypeVar("Model")

# The field.ErrorType a failed rule is reported as: "Required value", "Forbidden", "Invalid value".
RuleReason = Literal["FieldValueRequired", "FieldValueForbidden", "FieldValueInvalid"]


class ValidationRule(TypedDict):
    """One entry of `x-kubernetes-validations` (apiextensions.k8s.io/v1 ValidationRule)."""

    rule: str
    message: str
    reason: RuleReason
    fieldPath: NotRequired[str]


@dataclass(frozen=True, slots=True)
class Rule(Generic[Model]):
    """A rule over several fields of one model: `holds` in Python, `cel` for the API server.

    `cel` sees the object as it is written (camelCase) with `self` the model's
    node; a field left out is absent there, so it is tested with has().
    `field` is the wire name of the field the message is about, if one. With
    `on_field`, `cel` is written for that field's own node instead (`self` is
    its value, and the rule runs only when it is present): the API server
    estimates a rule's cost from the largest list it could meet, and a loop
    over a list costs less there than the same loop reached from the model.
    """

    holds: Callable[[Model], bool]
    cel: str
    message: str
    reason: RuleReason = "FieldValueInvalid"
    field: str | None = None
    on_field: bool = False

    def validation_rule(self) -> ValidationRule:
        rule: ValidationRule = {"rule": self.cel, "message": self.message, "reason": self.reason}
        if self.field is not None and not self.on_field:
            rule["fieldPath"] = f".{self.field}"
        return rule


def emit_rules(schema: dict[str, Any], model: type[Any]) -> None:
    """pydantic's json_schema_extra hook: the model's rules as x-kubernetes-validations,
    on the model's node or on the field's."""
    for rule in getattr(model, "rules", ()):
        node = schema
        if rule.on_field:
            node = _property(schema, model, rule.field)
        node.setdefault("x-kubernetes-validations", []).append(rule.validation_rule())


def _property(schema: dict[str, Any], model: type[Any], field: str | None) -> dict[str, Any]:
    by_alias = {info.alias: name for name, info in model.model_fields.items()}
    properties = schema.get("properties", {})
    for name in (field, by_alias.get(field)):
        if name in properties:
            found: dict[str, Any] = properties[name]
            return found
    raise ValueError(f"{model.__name__} has no field {field!r} to put a rule on")
