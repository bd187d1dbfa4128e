"""The pydantic base shared by every custom-resource model.

Field names are snake_case in Python and camelCase on the wire, as Kubernetes
resources are written. A model's cross-field `rules` (models/rules.py) are
checked here and written into its JSON Schema for the CRD.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from qiskit_operator.models.rules import Rule, emit_rules


class ResourceModel(BaseModel):
    """A part of a custom resource: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=False,
        json_schema_extra=emit_rules,
    )

    rules: ClassVar[tuple[Rule[Any], ...]] = ()
    """Cross-field rules; the CRD carries each as CEL with the same message."""

    @model_validator(mode="after")
    def _rules_hold(self) -> Self:
        broken = [rule.message for rule in self.rules if not rule.holds(self)]
        if broken:
            # A custom error keeps the message as written, without "Value error, ".
            raise PydanticCustomError("rule", "; ".join(broken))
        return self
