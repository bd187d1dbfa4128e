"""Where a circuit's text comes from: inline, a ConfigMap, or a URL.

Called by the validate function. ConfigMaps are read through a
`ConfigMapReader` (the Kubernetes one lives in `qiskit_operator.kube`, with
validate's read-only ServiceAccount); URLs through `fetching`, which refuses
what could reach inside the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from qiskit_operator.circuits.fetching import UrlPolicy, fetch_circuit
from qiskit_operator.errors import UserError
from qiskit_operator.models.spec import CircuitFormat, CircuitSpec


class ConfigMapReader(Protocol):
    def read_key(self, namespace: str, name: str, key: str) -> str:
        """The text under `key` (binaryData comes back base64, as QPY is written).

        Raises UserError when the ConfigMap or the key does not exist.
        """


@dataclass(frozen=True, slots=True)
class SourceText:
    text: str
    format_hint: CircuitFormat | None


@dataclass(frozen=True, slots=True)
class CircuitSources:
    configmaps: ConfigMapReader
    url_policy: UrlPolicy
    max_bytes: int

    def read(self, spec: CircuitSpec, namespace: str) -> SourceText:
        if spec.source == "inline":
            text, hint = spec.code or "", None
        elif spec.source == "configmap":
            ref = spec.config_map_ref
            assert ref is not None  # the model requires it for this source
            text, hint = self.configmaps.read_key(namespace, ref.name, ref.key), _hint(ref.key)
        elif spec.source == "url":
            assert spec.url is not None
            text, hint = fetch_circuit(spec.url, self.url_policy), _hint(spec.url)
        else:
            raise UserError(
                "circuit.source git is not supported; publish the file and use source: url, "
                "or put it in a ConfigMap and use source: configmap",
                reason="UnsupportedSource",
            )
        size = len(text.encode())
        if size > self.max_bytes:
            raise UserError(
                f"the circuit source is {size} bytes; the limit is {self.max_bytes}",
                reason="SourceTooLarge",
            )
        return SourceText(text, hint)


def _hint(name: str) -> CircuitFormat | None:
    path = name.split("?", 1)[0].lower()
    if path.endswith(".py"):
        return "python"
    if path.endswith(".qpy"):
        return "qpy"
    return None  # .qasm says OPENQASM 2 or 3 in its first line: detection tells
