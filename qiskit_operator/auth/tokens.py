"""Our own bearer tokens, for what we send.

`ProjectedToken` reads a projected ServiceAccount token volume, again before each
send because the kubelet rotates the file; `RequestedToken` asks the TokenRequest
API for a ServiceAccount's token and reuses it until most of its life is spent, as
Knative's senders do. Used by the dev Broker (routing/), `qop watch` and the dev
stack's PingSource stand-in.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from qiskit_operator.errors import TransientError
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.tokens import IssuedToken, request_token


class TokenSource(Protocol):
    def token(self) -> str: ...


def authorization(source: TokenSource | None) -> dict[str, str]:
    """The header that carries `source`'s token; none without a source."""
    return {} if source is None else {"Authorization": f"Bearer {source.token()}"}


@dataclass(frozen=True, slots=True)
class ProjectedToken:
    path: Path

    def token(self) -> str:
        try:
            return self.path.read_text().strip()
        except OSError as error:
            raise TransientError(
                f"cannot read the token at {self.path}: {error.strerror}"
            ) from error


@dataclass
class RequestedToken:
    """ServiceAccount namespace/name's token for `audience`, from the TokenRequest API."""

    connection: KubeConnection
    namespace: str
    name: str
    audience: str
    seconds: int = 3600
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    _issued: IssuedToken | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def token(self) -> str:
        with self._lock:
            # Renewed with a fifth of its life left: a token never expires in flight.
            renew_at = None
            if self._issued is not None:
                renew_at = self._issued.expires - dt.timedelta(seconds=self.seconds / 5)
            if self._issued is None or renew_at is None or self.now() >= renew_at:
                self._issued = request_token(
                    self.connection, self.namespace, self.name, self.audience, self.seconds
                )
            return self._issued.token
