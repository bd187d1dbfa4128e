"""Reads circuit sources from ConfigMaps, with the caller's own ServiceAccount.

Used by the validate function for `circuit.source: configmap`; its
ServiceAccount may get, list and watch ConfigMaps and nothing more.
"""

from __future__ import annotations

from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.errors import APIUnavailableError


class KubeConfigMapReader:
    """A ConfigMapReader on the Kubernetes API."""

    def __init__(self, connection: KubeConnection) -> None:
        self._connection = connection

    def read_key(self, namespace: str, name: str, key: str) -> str:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            configmap = self._connection.core().read_namespaced_config_map(name, namespace)
        except APIUnavailableError as error:
            raise UserError(
                f"circuit.source is configmap but {error}; put the circuit inline, or run "
                "on a cluster",
                reason="SourceUnavailable",
            ) from error
        except ApiException as error:
            if error.status == 404:
                raise UserError(
                    f"ConfigMap {namespace}/{name} does not exist; create it or fix "
                    "circuit.configMapRef.name",
                    reason="SourceNotFound",
                ) from error
            if error.status in (401, 403):
                raise UserError(
                    f"the validate function may not read ConfigMap {namespace}/{name} "
                    f"({error.status}); check its ServiceAccount's RBAC (knative/rbac.yaml)",
                    reason="SourceForbidden",
                ) from error
            raise TransientError(
                f"reading ConfigMap {namespace}/{name} failed: {error.status} {error.reason}"
            ) from error
        except HTTPError as error:
            raise TransientError(f"the Kubernetes API could not be reached: {error}") from error
        data = configmap.data or {}
        if key in data:
            return str(data[key])
        binary = configmap.binary_data or {}
        if key in binary:
            return str(binary[key])  # already base64, as QPY sources are written
        keys = ", ".join(sorted([*data, *binary])) or "none"
        raise UserError(
            f"ConfigMap {namespace}/{name} has no key {key!r} (keys: {keys}); fix "
            "circuit.configMapRef.key",
            reason="SourceNotFound",
        )
