"""`BackendStore` on the Kubernetes API: the cluster's QiskitBackends, and their status.

Used by reconcile's ping (`catalogue.refreshing`) and by validate's backend
selection. QiskitBackends are cluster-scoped; an object that does not parse is
skipped with a warning rather than stopping the whole refresh.
"""

from __future__ import annotations

import logging
from typing import Any

import pydantic

from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.errors import APINotFoundError, call_api
from qiskit_operator.kube.status import MERGE_PATCH
from qiskit_operator.models import GROUP, VERSION
from qiskit_operator.models.backend import QiskitBackend, QiskitBackendStatus

PLURAL = "qiskitbackends"
log = logging.getLogger(__name__)


class KubeBackends:
    def __init__(self, connection: KubeConnection) -> None:
        self._connection = connection

    def backends(self) -> list[QiskitBackend]:
        try:
            listed: dict[str, Any] = call_api(
                "listing qiskitbackends",
                self._connection.custom().list_cluster_custom_object,
                GROUP,
                VERSION,
                PLURAL,
            )
        except APINotFoundError:
            # A cluster without the QiskitBackend CRD offers no catalogue; jobs still run.
            log.warning("no QiskitBackend CRD on this cluster (kubectl apply -f crds/)")
            return []
        found = []
        for item in listed.get("items", []):
            try:
                found.append(QiskitBackend.model_validate(item))
            except pydantic.ValidationError as error:
                name = item.get("metadata", {}).get("name", "?")
                log.warning("qiskitbackend %s skipped: %s", name, error.errors()[0]["msg"])
        return found

    def write_status(self, backend: QiskitBackend, status: QiskitBackendStatus) -> bool:
        name = backend.metadata.name
        body = {"status": status.model_dump(mode="json", by_alias=True, exclude_none=False)}
        try:
            call_api(
                f"patching qiskitbackend {name}/status",
                self._connection.custom().patch_cluster_custom_object_status,
                GROUP,
                VERSION,
                PLURAL,
                name,
                body,
                _content_type=MERGE_PATCH,
            )
        except APINotFoundError:
            return False
        return True
