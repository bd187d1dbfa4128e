"""A connection to the Kubernetes API, opened on first use: in-cluster, else KUBECONFIG.

Built once in the composition root (`wiring`) and handed to the readers and
writers that need it; a process that never touches Kubernetes never loads it.
"""

from __future__ import annotations

import threading
from typing import Any

from qiskit_operator.kube.errors import APINotConfiguredError, call_api


class KubeConnection:
    def __init__(self, kubeconfig: str | None = None, context: str | None = None) -> None:
        self._kubeconfig = kubeconfig
        # A kubeconfig context, as kubectl's --context: the client and the kubectl plugin.
        self._context = context
        self._lock = threading.Lock()
        self._client: Any = None

    def api_client(self) -> Any:
        with self._lock:
            if self._client is None:
                from kubernetes import client, config

                try:
                    if self._kubeconfig or self._context:
                        configuration = client.Configuration()
                        config.load_kube_config(  # type: ignore[no-untyped-call,unused-ignore]
                            config_file=self._kubeconfig,
                            context=self._context,
                            client_configuration=configuration,
                        )
                        self._client = client.ApiClient(configuration)
                    else:
                        try:
                            config.load_incluster_config()  # type: ignore[no-untyped-call,unused-ignore]
                        except config.ConfigException:
                            config.load_kube_config()  # type: ignore[no-untyped-call,unused-ignore]
                        self._client = client.ApiClient()
                except (config.ConfigException, OSError) as error:
                    raise APINotConfiguredError(
                        f"no Kubernetes cluster is configured ({error})"
                    ) from error
            return self._client

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client())

    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client())


def cached_jobs(connection: KubeConnection) -> list[dict[str, Any]]:
    """Every QiskitJob, listed once from the API server's watch cache (resourceVersion
    0): for the resync's and retention's sweeps, which can take a slightly old view."""
    from qiskit_operator.models import GROUP, VERSION

    listing = call_api(
        "listing qiskitjobs",
        connection.custom().list_cluster_custom_object,
        GROUP,
        VERSION,
        "qiskitjobs",
        resource_version="0",
    )
    return list(listing.get("items", []))


def context_namespace(kubeconfig: str | None = None, context: str | None = None) -> str:
    """The namespace the kubeconfig's context (the current one unless named) sets, else
    default: where kubectl acts when given no --namespace."""
    from kubernetes import config

    try:
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call,unused-ignore]
    except (config.ConfigException, OSError, TypeError):
        return "default"
    if context:
        active = next((c for c in contexts if c.get("name") == context), active)
    return str((active or {}).get("context", {}).get("namespace") or "default")
