"""Errors of the Kubernetes API, as this project's types, picked from the HTTP status.

Nothing above `qiskit_operator.kube` sees the client's ApiException.
"""

from __future__ import annotations

from typing import Any

from qiskit_operator.errors import NoClusterError, OperatorError, TransientError


class APIError(OperatorError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class APINotFoundError(APIError):
    """The object is gone (or never was)."""


class APIConflictError(APIError):
    """Someone wrote the object since it was read (409)."""


class APIForbiddenError(APIError):
    """This ServiceAccount may not do that (401/403): RBAC, not a retry, fixes it."""


class APIUnavailableError(APIError, TransientError):
    """The API server did not answer (5xx, 429, a connection error): retry."""

    def __init__(self, message: str, status: int | None = None) -> None:
        APIError.__init__(self, message, status)
        self.message = message
        self.delay = None


class APINotConfiguredError(APIUnavailableError, NoClusterError):
    """No kubeconfig and no in-cluster ServiceAccount: no cluster to ask."""


def call_api(what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """`call(*args, **kwargs)` on the Kubernetes client, its failures as our errors."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return call(*args, **kwargs)
    except (ApiException, HTTPError) as error:
        raise translate(error, what) from error


def translate(error: Exception, what: str) -> APIError:
    """Our error for the client's `error` while doing `what`."""
    status: Any = getattr(error, "status", None)
    reason = getattr(error, "reason", "") or type(error).__name__
    message = f"{what}: {status or ''} {reason}".strip()
    if status == 404:
        return APINotFoundError(message, 404)
    if status == 409:
        return APIConflictError(message, 409)
    if status in (401, 403):
        return APIForbiddenError(message, status)
    if status is None or status == 429 or status >= 500:
        return APIUnavailableError(message, status)
    return APIError(message, status)
