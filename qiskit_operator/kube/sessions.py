"""`SessionStore` on the Kubernetes API: QiskitSessions, their jobs, their status.

Used by reconcile (`sessions.scheduling`), the only writer of a session's status,
and by validate (`sessions.holding`), which only reads. The session's jobs are
listed fresh, not from the watch cache: who runs next is decided on them. The
status write carries the resourceVersion the session was read at, so a second
reconcile worker deciding at the same time gets a conflict, not a second turn.
"""

from __future__ import annotations

import logging
from typing import Any

import pydantic

from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.errors import APIConflictError, APINotFoundError, call_api
from qiskit_operator.kube.status import MERGE_PATCH
from qiskit_operator.models import GROUP, VERSION, QiskitJob
from qiskit_operator.models.session import QiskitSession, QiskitSessionStatus
from qiskit_operator.sessions.queueing import Member
from qiskit_operator.sessions.store import member_of

PLURAL = "qiskitsessions"
log = logging.getLogger(__name__)


class KubeSessions:
    def __init__(self, connection: KubeConnection) -> None:
        self._connection = connection

    def session(self, namespace: str, name: str) -> QiskitSession | None:
        try:
            found: dict[str, Any] = call_api(
                f"reading qiskitsession {namespace}/{name}",
                self._connection.custom().get_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
            )
        except APINotFoundError:
            return None
        return QiskitSession.model_validate(found)

    def sessions(self) -> list[QiskitSession]:
        try:
            listed: dict[str, Any] = call_api(
                "listing qiskitsessions",
                self._connection.custom().list_cluster_custom_object,
                GROUP,
                VERSION,
                PLURAL,
            )
        except APINotFoundError:
            return []  # no QiskitSession CRD on this cluster
        return [s for s in (_parsed(item) for item in listed.get("items", [])) if s is not None]

    def members(self, session: QiskitSession) -> list[Member]:
        namespace = session.metadata.namespace
        listed: dict[str, Any] = call_api(
            f"listing qiskitjobs in {namespace}",
            self._connection.custom().list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "qiskitjobs",
        )
        found = []
        for item in listed.get("items", []):
            try:
                job = QiskitJob.model_validate(item)
            except pydantic.ValidationError:
                continue  # validate fails it; it is no session's member meanwhile
            member = member_of(job, session)
            if member is not None:
                found.append(member)
        return found

    def write_status(self, session: QiskitSession, status: QiskitSessionStatus) -> bool:
        meta = session.metadata
        body = {
            "metadata": {"resourceVersion": meta.resourceVersion},
            "status": status.model_dump(mode="json", by_alias=True, exclude_none=False),
        }
        try:
            call_api(
                f"patching qiskitsession {meta.namespace}/{meta.name}/status",
                self._connection.custom().patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                meta.namespace,
                PLURAL,
                meta.name,
                body,
                _content_type=MERGE_PATCH,
            )
        except (APINotFoundError, APIConflictError):
            return False
        return True


def _parsed(item: dict[str, Any]) -> QiskitSession | None:
    try:
        return QiskitSession.model_validate(item)
    except pydantic.ValidationError as error:
        name = item.get("metadata", {}).get("name", "?")
        log.warning("qiskitsession %s skipped: %s", name, error.errors()[0]["msg"])
        return None
