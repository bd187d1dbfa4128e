"""The pydantic base shared by every custom-resource model.

Field names are snake_case in Python and camelCase on the wire, as Kubernetes
resources are written.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ResourceModel(BaseModel):
    """A part of a custom resource: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=False,
    )
