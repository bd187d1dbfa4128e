"""One manifest breaking each cross-field rule of the models (models/rules.py).

Shared by the unit tests (pydantic refuses it with the rule's message; the CRD
carries the rule with that message) and the e2e tests (the API server's CEL
refuses it with the same words).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from qiskit_operator.models.base import ResourceModel
from qiskit_operator.models.rules import Rule
from tests.conftest import example


@dataclass(frozen=True, slots=True)
class Violation:
    name: str
    sections: dict[str, dict[str, Any]]
    """spec sections of bell.yaml replaced by these."""
    words: str
    """Words only the broken rule's message has."""

    def manifest(self) -> dict[str, Any]:
        manifest = copy.deepcopy(example("bell.yaml"))
        manifest["metadata"]["name"] = f"breaks-{self.name}"
        manifest["spec"].update(copy.deepcopy(self.sections))
        return manifest

    def rule(self) -> Rule[Any]:
        matching = [rule for rule in every_rule() if self.words in rule.message]
        assert len(matching) == 1, f"{self.words!r} names {len(matching)} rules"
        return matching[0]


VIOLATIONS = (
    Violation("inline-without-code", {"circuit": {"source": "inline"}}, "circuit.code is"),
    Violation("no-source-no-code", {"circuit": {"format": "qasm2"}}, "circuit.code is"),
    Violation("configmap-without-ref", {"circuit": {"source": "configmap"}}, "configMapRef is"),
    Violation("url-without-url", {"circuit": {"source": "url"}}, "circuit.url is"),
    Violation("observables-with-sampler", {"execution": {"observables": ["ZZ"]}}, "are for the"),
    Violation(
        "estimator-without-observables", {"execution": {"primitive": "estimator"}}, "is estimator"
    ),
    Violation(
        "ragged-parameter-values",
        {"execution": {"parameterValues": [[0.1], [0.2, 0.3]]}},
        "every row of execution.parameterValues",
    ),
    Violation(
        "output-path-escaping",
        {"output": {"type": "pvc", "path": "../other-namespace/result.json"}},
        "output.path must be",
    ),
    Violation(
        "output-location-not-a-name",
        {"output": {"type": "configmap", "location": "other-namespace/results"}},
        "output.location must be",
    ),
    Violation(
        "retention-not-a-duration",
        {"output": {"type": "configmap", "retention": "a week"}},
        "output.retention must be",
    ),
    Violation("output-gcs", {"output": {"type": "gcs"}}, "gcs and azure_blob are not"),
    Violation("output-s3-without-bucket", {"output": {"type": "s3"}}, "so output.bucket is"),
    Violation(
        "output-bucket-not-a-bucket",
        {"output": {"type": "s3", "bucket": "Not_A_Bucket"}},
        "output.bucket must be",
    ),
    Violation(
        "output-prefix-escaping",
        {"output": {"type": "s3", "bucket": "results", "prefix": "a/../../b"}},
        "output.prefix must be",
    ),
    Violation(
        "output-endpoint-with-a-path",
        {"output": {"type": "s3", "bucket": "results", "endpoint": "http://x/y"}},
        "output.endpoint must be",
    ),
    Violation(
        "output-credentials-secret-not-a-name",
        {"output": {"type": "s3", "bucket": "results", "credentialsSecret": "ns/secret"}},
        "output.credentialsSecret must be",
    ),
    Violation(
        "retention-of-nothing",
        {"output": {"type": "configmap", "retention": "0s"}},
        "output.retention must be",
    ),
)


def every_rule() -> list[Rule[Any]]:
    """The rules of every model there is."""
    models: list[type[ResourceModel]] = []
    pending = [ResourceModel]
    while pending:
        model = pending.pop()
        models.append(model)
        pending.extend(model.__subclasses__())
    return [rule for model in models for rule in model.__dict__.get("rules", ())]
