"""`SecretReader` on the Kubernetes API: execute's one read, a provider token.

Used by execute only (`hardware.credentials`). Every failure says which Secret
and key to fix and never repeats what the Secret holds: the client's own error
text is not passed on (it can echo the object).
"""

from __future__ import annotations

import base64

from qiskit_operator.errors import UserError
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.errors import (
    APIForbiddenError,
    APINotFoundError,
    APIUnavailableError,
    call_api,
)


class KubeSecretReader:
    def __init__(self, connection: KubeConnection) -> None:
        self._connection = connection

    def read_key(self, namespace: str, name: str, key: str) -> str:
        where = f"Secret {namespace}/{name}"
        try:
            secret = call_api(
                f"reading {where}",
                self._connection.core().read_namespaced_secret,
                name,
                namespace,
            )
        except APINotFoundError as error:
            raise UserError(f"{where} does not exist", reason="CredentialsMissing") from error
        except APIForbiddenError as error:
            raise UserError(
                f"execute's ServiceAccount (qiskit-operator/qiskit-execute) may not read {where}; "
                f"bind it in {namespace} (docs/credentials.md)",
                reason="CredentialsForbidden",
            ) from error
        except APIUnavailableError as error:
            raise UserError(
                f"{where} cannot be read: the Kubernetes API could not be reached",
                reason="CredentialsUnavailable",
            ) from error
        data = secret.data or {}
        if key not in data:
            keys = ", ".join(sorted(data)) or "none"
            raise UserError(
                f"{where} has no key {key!r} (keys: {keys})", reason="CredentialsMissing"
            )
        return base64.b64decode(data[key]).decode()
