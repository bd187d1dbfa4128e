"""QiskitJobs as a user handles them: create, read, wait for, delete, and read their
result ConfigMaps.

Used by the Python client (`qiskit_operator.client`) and the kubectl plugin
(`qiskit_operator.plugin`), never by the functions: they act as the person who
runs them, with that person's kubeconfig and context. Waiting is a watch on the
one object (a field selector on its name), not polling.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from qiskit_operator.errors import UserError
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.errors import APIError, APINotFoundError, call_api, translate
from qiskit_operator.kube.status import MERGE_PATCH
from qiskit_operator.models import GROUP, VERSION

PLURAL = "qiskitjobs"
Body = dict[str, Any]
# A watch is cut by the API server after at most this long; it is then opened again,
# from the last resourceVersion seen, until the caller's deadline.
_WATCH_SECONDS = 60


class JobsApi:
    """The QiskitJobs of one namespace."""

    def __init__(self, connection: KubeConnection, namespace: str) -> None:
        self.connection = connection
        self.namespace = namespace

    def create(self, manifest: Body) -> Body:
        """The job as created. UserError with the API server's own words when it refuses
        the job (a field out of range, a name taken): they say what to change."""
        from kubernetes.client.exceptions import ApiException

        name = manifest["metadata"].get("name", "")
        try:
            return dict(
                call_api(
                    f"creating qiskitjob {name} in {self.namespace}",
                    self.connection.custom().create_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURAL,
                    manifest,
                )
            )
        except APIError as error:
            cause = error.__cause__
            if error.status in (400, 409, 422) and isinstance(cause, ApiException):
                raise UserError(
                    f"the API server refused qiskitjob {self.namespace}/{name}: "
                    f"{_status_message(cause.body) or error}",
                    reason="Refused",
                ) from error
            raise

    def get(self, name: str) -> Body | None:
        """The job as the API server has it now; None when there is none of that name."""
        try:
            return dict(
                call_api(
                    f"reading qiskitjob {self.namespace}/{name}",
                    self.connection.custom().get_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURAL,
                    name,
                )
            )
        except APINotFoundError:
            return None

    def delete(self, name: str) -> bool:
        """Delete the job (its result ConfigMap goes with it); False when it was gone."""
        try:
            call_api(
                f"deleting qiskitjob {self.namespace}/{name}",
                self.connection.custom().delete_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                name,
            )
        except APINotFoundError:
            return False
        return True

    def cancel(self, name: str) -> bool:
        """Set the job's spec.cancel: it stops wherever it is and ends Cancelled, keeping
        what finished (docs/budgets.md#cancel); False when there is no such job."""
        try:
            call_api(
                f"cancelling qiskitjob {self.namespace}/{name}",
                self.connection.custom().patch_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                name,
                {"spec": {"cancel": True}},
                _content_type=MERGE_PATCH,
            )
        except APINotFoundError:
            return False
        return True

    def configmap(self, name: str) -> dict[str, str] | None:
        """The data of ConfigMap `name` in the namespace; None when there is none."""
        try:
            found = call_api(
                f"reading configmap {self.namespace}/{name}",
                self.connection.core().read_namespaced_config_map,
                name,
                self.namespace,
            )
        except APINotFoundError:
            return None
        return dict(found.data or {})

    def wait(
        self,
        name: str,
        until: Callable[[Body | None], bool],
        timeout: float | None = None,
        on_change: Callable[[Body], None] | None = None,
    ) -> Body | None:
        """The job once `until(job)` holds (`job` is None once it is deleted), watching it
        change; `on_change` sees each version on the way. TimeoutError after `timeout`
        seconds (None: no limit)."""
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        deadline = None if timeout is None else time.monotonic() + timeout
        custom = self.connection.custom()
        selector = f"metadata.name={name}"
        while True:
            listing = call_api(
                f"listing qiskitjob {self.namespace}/{name}",
                custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                field_selector=selector,
            )
            items = listing.get("items", [])
            current: Body | None = items[0] if items else None
            if current is not None and on_change is not None:
                on_change(current)
            if until(current):
                return current
            version = listing["metadata"]["resourceVersion"]
            expired = False
            while not expired:
                left = _seconds_left(deadline, name)
                stream = watch.Watch()  # type: ignore[no-untyped-call,unused-ignore]
                try:
                    for change in stream.stream(  # type: ignore[no-untyped-call,unused-ignore]
                        custom.list_namespaced_custom_object,
                        GROUP,
                        VERSION,
                        self.namespace,
                        PLURAL,
                        field_selector=selector,
                        resource_version=version,
                        timeout_seconds=max(1, int(min(left, _WATCH_SECONDS))),
                        allow_watch_bookmarks=True,
                    ):
                        obj = change["object"]
                        version = obj["metadata"]["resourceVersion"]
                        if change["type"] == "BOOKMARK":
                            continue
                        current = None if change["type"] == "DELETED" else obj
                        if current is not None and on_change is not None:
                            on_change(current)
                        if until(current):
                            return current
                except ApiException as error:
                    if error.status != 410:
                        raise translate(error, f"watching qiskitjob {name}") from error
                    expired = True  # our resourceVersion is too old: list again
                except HTTPError as error:
                    raise translate(error, f"watching qiskitjob {name}") from error
                finally:
                    stream.stop()  # type: ignore[no-untyped-call,unused-ignore]


def _status_message(body: object) -> str | None:
    """The message of a metav1.Status the API server answered with."""
    try:
        message = json.loads(body if isinstance(body, str | bytes) else "")["message"]
    except (ValueError, KeyError, TypeError):
        return None
    return str(message)


def _seconds_left(deadline: float | None, name: str) -> float:
    if deadline is None:
        return float(_WATCH_SECONDS)
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(f"qiskitjob {name} did not finish in time")
    return left
