"""`qop watch`: an event source for clusters without Knative Eventing.

Watches QiskitJobs and emits, for each change, the event Knative's
ApiServerSource would (Resource mode: same type, source, subject, extensions and
data), so the functions cannot tell which one sent it. Like the adapter, it says
nothing about jobs that exist when it starts, nor about changes made while it
relists; reconcile's resync asks for those jobs again (docs/resync.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from qiskit_operator.events import types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.errors import translate
from qiskit_operator.models import GROUP, VERSION

log = logging.getLogger(__name__)
_TYPES = {
    "ADDED": types.APISERVER_ADD,
    "MODIFIED": types.APISERVER_UPDATE,
    "DELETED": types.APISERVER_DELETE,
}


class JobWatcher:
    def __init__(
        self,
        connection: KubeConnection,
        emit: Callable[[Envelope], None],
        namespace: str | None = None,
    ) -> None:
        self._connection = connection
        self._emit = emit
        self._namespace = namespace
        self._stopped = threading.Event()
        self.started = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def _list(self, custom: Any) -> str:
        if self._namespace:
            listing = custom.list_namespaced_custom_object(
                GROUP, VERSION, self._namespace, "qiskitjobs"
            )
        else:
            listing = custom.list_cluster_custom_object(GROUP, VERSION, "qiskitjobs")
        return str(listing["metadata"]["resourceVersion"])

    def run(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        custom = self._connection.custom()
        source = self._connection.api_client().configuration.host
        version = self._list(custom)
        self.started.set()
        while not self._stopped.is_set():
            stream = watch.Watch()  # type: ignore[no-untyped-call,unused-ignore]
            kwargs: dict[str, Any] = {
                "resource_version": version,
                "timeout_seconds": 5,
                "allow_watch_bookmarks": True,
            }
            call = (
                custom.list_namespaced_custom_object
                if self._namespace
                else custom.list_cluster_custom_object
            )
            args = (
                (GROUP, VERSION, self._namespace, "qiskitjobs")
                if self._namespace
                else (GROUP, VERSION, "qiskitjobs")
            )
            try:
                for change in stream.stream(call, *args, **kwargs):  # type: ignore[no-untyped-call,unused-ignore]
                    obj = change["object"]
                    version = obj["metadata"]["resourceVersion"]
                    kind = _TYPES.get(change["type"])
                    if kind is not None:
                        self._emit(resource_event(obj, kind, source))
                    if self._stopped.is_set():
                        break
            except ApiException as error:
                if error.status == 410:  # our resourceVersion is too old: start again
                    log.warning(
                        "watch expired; listing again (jobs changed meanwhile are not sent;"
                        " reconcile's resync asks for them again)"
                    )
                    version = self._list(custom)
                    continue
                raise translate(error, "watching qiskitjobs") from error
            finally:
                stream.stop()  # type: ignore[no-untyped-call,unused-ignore]
