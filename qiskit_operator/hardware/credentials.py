"""A provider account's credentials, read from a Secret by execute alone.

Called by `submitting` for a family with a provider account. The Secret is
spec.credentials.secretRef, or the namespace's default `qiskit-credentials`;
its key `token` holds the token. Execute's ServiceAccount may read only the
Secrets a namespace grants it (docs/credentials.md); validate and reconcile
read none. A `Token` never prints its value, so no log line, message, status,
Event or span can carry it by accident.
"""

from __future__ import annotations

from typing import Protocol

from qiskit_operator.errors import UserError
from qiskit_operator.events import payloads

TOKEN_KEY = "token"


class Token:
    """A secret value; `reveal()` is the one way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Token(***)"

    __str__ = __repr__


class SecretReader(Protocol):
    def read_key(self, namespace: str, name: str, key: str) -> str:
        """The value under `key` of Secret `namespace/name`; UserError saying what to fix."""
        ...


def token_for(secrets: SecretReader, request: payloads.CredentialsRequest) -> Token:
    where = f"Secret {request.namespace}/{request.name}"
    value = secrets.read_key(request.namespace, request.name, TOKEN_KEY)
    if not value.strip():
        raise UserError(
            f"key {TOKEN_KEY!r} of {where} is empty; put the provider's API token there",
            reason="CredentialsInvalid",
        )
    return Token(value.strip())


def how_to_create(request: payloads.CredentialsRequest) -> str:
    return (
        f"kubectl -n {request.namespace} create secret generic {request.name} "
        f"--from-literal={TOKEN_KEY}=<your token>"
        + (
            ""
            if request.explicit
            else " (the namespace's default; or set spec.credentials.secretRef)"
        )
    )


class MemorySecrets:
    """Secrets in a dictionary: `qop run` and tests."""

    def __init__(self, secrets: dict[tuple[str, str], dict[str, str]] | None = None) -> None:
        self.secrets = secrets or {}

    def read_key(self, namespace: str, name: str, key: str) -> str:
        found = self.secrets.get((namespace, name))
        if found is None:
            raise UserError(
                f"Secret {namespace}/{name} does not exist", reason="CredentialsMissing"
            )
        if key not in found:
            keys = ", ".join(sorted(found)) or "none"
            raise UserError(
                f"Secret {namespace}/{name} has no key {key!r} (keys: {keys})",
                reason="CredentialsMissing",
            )
        return found[key]
