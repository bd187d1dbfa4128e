"""The log lines of the functions' pods: what `kubectl qiskit logs JOB` searches.

Used by the kubectl plugin only, as the person running it: it needs `get` and
`list` on pods and `get` on pods/log in the operator's namespace.
"""

from __future__ import annotations

from collections.abc import Iterator

from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.errors import call_api

FUNCTION_SELECTOR = (
    "serving.knative.dev/service in (qiskit-validate,qiskit-execute,qiskit-reconcile)"
)


def function_log_lines(
    connection: KubeConnection, namespace: str, selector: str = FUNCTION_SELECTOR
) -> Iterator[tuple[str, str]]:
    """(pod name, line) for every line of every container of the functions' pods."""
    core = connection.core()
    pods = call_api(
        f"listing the functions' pods in {namespace}",
        core.list_namespaced_pod,
        namespace,
        label_selector=selector,
    )
    for pod in pods.items:
        for container in pod.spec.containers:
            text = call_api(
                f"reading the log of {namespace}/{pod.metadata.name}",
                core.read_namespaced_pod_log,
                pod.metadata.name,
                namespace,
                container=container.name,
            )
            for line in str(text).splitlines():
                yield pod.metadata.name, line
