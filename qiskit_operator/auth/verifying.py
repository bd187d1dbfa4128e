"""Checking a sender's bearer token, as Knative's own verifier does.

The signature against the issuer's published keys (RS256 or ES256 only), `iss`
equal to the discovered issuer, `aud` holding our audience, `exp` and `nbf` with
a small leeway, and `sub` one of the senders we expect. A missing or bad token
is a 401, a good token from a sender we do not expect a 403. Used by
serving.py (each function's CloudEvent paths) and routing/ingress.py (the dev
Broker).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import jwt

from qiskit_operator.auth.keys import ALGORITHMS, ApiServerDocuments, IssuerKeys, UnknownKeyError
from qiskit_operator.errors import OperatorError, UserError
from qiskit_operator.settings import AuthSettings

log = logging.getLogger(__name__)

# Clocks of the API server and of this node may differ a little.
LEEWAY_SECONDS = 30


class SenderRefusedError(OperatorError):
    """The event's sender is not let in; `status` is the HTTP answer (401 or 403)
    and `reason` a short label for the metric."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


class SenderVerifier:
    """token -> the sender's subject, or SenderRefusedError."""

    def __init__(self, keys: IssuerKeys, audience: str, senders: Iterable[str]) -> None:
        self.keys = keys
        self.audience = audience
        self.senders = frozenset(senders)

    def sender(self, authorization: str | None) -> str:
        """The subject of the token in an `Authorization: Bearer` header, checked."""
        subject = self.subject(authorization)
        if subject not in self.senders:
            raise SenderRefusedError(
                403,
                "unexpected_sender",
                f"{subject} may not send events here (audience {self.audience})",
            )
        return subject

    def subject(self, authorization: str | None) -> str:
        """The verified subject of the token, whoever it is."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise SenderRefusedError(
                401, "no_token", f"send an Authorization: Bearer token for audience {self.audience}"
            )
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise SenderRefusedError(
                401, "malformed", f"the bearer token is not a JWT: {error}"
            ) from error
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS:
            raise SenderRefusedError(
                401, "algorithm", f"tokens signed with {algorithm} are not accepted (RS256, ES256)"
            )
        try:
            key = self.keys.key(kid if isinstance(kid, str) else "")
        except UnknownKeyError as error:
            raise SenderRefusedError(401, "unknown_key", f"the token's {error}") from error
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.keys.issuer(),
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise SenderRefusedError(401, "expired", "the bearer token has expired") from error
        except jwt.InvalidAudienceError as error:
            raise SenderRefusedError(
                401, "audience", f"the bearer token is not for audience {self.audience}"
            ) from error
        except jwt.InvalidIssuerError as error:
            raise SenderRefusedError(
                401, "issuer", "the bearer token was not issued by this cluster's API server"
            ) from error
        except jwt.PyJWTError as error:
            raise SenderRefusedError(
                401, "invalid", f"the bearer token is not valid: {error}"
            ) from error
        subject = claims.get("sub")
        if not isinstance(subject, str):
            raise SenderRefusedError(401, "invalid", "the bearer token names no subject")
        return subject


def sender_verifier(settings: AuthSettings, function: str) -> SenderVerifier | None:
    """The verifier `function`'s entry point hands to its endpoint, from its settings;
    None (events believed, with a warning) where no audience is set."""
    if not settings.audience:
        log.warning(
            "%s accepts CloudEvents without checking who sent them: set QOP_AUTH_AUDIENCE "
            "and QOP_AUTH_SENDERS (knative/services.yaml and `qop dev up` do)",
            function,
        )
        return None
    if not settings.senders:
        raise UserError(
            f"QOP_AUTH_AUDIENCE is set for {function} but QOP_AUTH_SENDERS names no sender; "
            "list the subjects that may send (system:serviceaccount:NS:NAME, comma-separated)"
        )
    documents = ApiServerDocuments(
        settings.api_server, settings.api_ca_file, settings.api_token_file
    )
    return SenderVerifier(IssuerKeys(documents), settings.audience, settings.senders)
