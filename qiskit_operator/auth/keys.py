"""The API server's token-signing keys, from its OIDC discovery document.

`/.well-known/openid-configuration` names the issuer and `jwks_uri`; the keys are
cached and fetched again when a token names a key id not seen yet (the API server
rotated its key). The discovery document's `jwks_uri` names the API server's
advertised address, which this process may not reach, so only its path is used,
against the URL the function is configured with. Anonymous reads are refused, so
the documents are read with the function's own ServiceAccount token, re-read from
its file before each fetch because the kubelet rotates it. Used by `verifying`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import jwt
import requests

from qiskit_operator.errors import TransientError

DISCOVERY_PATH = "/.well-known/openid-configuration"
# Only what Kubernetes signs with (RS256; ES256 where the signing key is an EC key).
ALGORITHMS = ("RS256", "ES256")


class Documents(Protocol):
    """Where the discovery document and the key set are read from."""

    def get(self, path: str) -> Mapping[str, object]: ...


@dataclass(frozen=True, slots=True)
class ApiServerDocuments:
    """The documents as the API server at `url` serves them, read with our own token."""

    url: str
    ca_file: Path | None = None
    token_file: Path | None = None
    timeout_seconds: float = 10.0

    def get(self, path: str) -> Mapping[str, object]:
        # The key set is served only as application/jwk-set+json (406 otherwise).
        headers = {"Accept": "application/json, application/jwk-set+json"}
        if self.token_file is not None:
            try:
                headers["Authorization"] = f"Bearer {self.token_file.read_text().strip()}"
            except OSError as error:
                raise TransientError(
                    f"cannot read the token for the API server's keys at {self.token_file}: "
                    f"{error.strerror}"
                ) from error
        verify: str | bool = str(self.ca_file) if self.ca_file is not None else True
        url = self.url.rstrip("/") + path
        try:
            answer = requests.get(url, headers=headers, verify=verify, timeout=self.timeout_seconds)
        except requests.RequestException as error:
            raise TransientError(f"cannot read {url}: {error}") from error
        if answer.status_code != 200:
            raise TransientError(f"{url} answered {answer.status_code}: {answer.text[:200]}")
        try:
            document = answer.json()
        except json.JSONDecodeError as error:
            raise TransientError(f"{url} did not answer JSON: {error}") from error
        if not isinstance(document, dict):
            raise TransientError(f"{url} did not answer a JSON object")
        return document


class UnknownKeyError(Exception):
    """No key the issuer publishes has this id, even after fetching them again."""


class IssuerKeys:
    """The issuer's name and keys, fetched on first use and cached."""

    def __init__(
        self,
        documents: Documents,
        refetch_after_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._documents = documents
        # A token naming an unknown key id makes us fetch again, but not more often
        # than this: a stream of forged key ids must not become a stream of fetches.
        self._refetch_after = refetch_after_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._issuer: str | None = None
        self._jwks_path: str | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None

    def issuer(self) -> str:
        with self._lock:
            return self._discover()[0]

    def key(self, kid: str) -> jwt.PyJWK:
        """The key with id `kid`; raises UnknownKeyError when the issuer has none."""
        with self._lock:
            key = self._keys.get(kid)
            if key is not None:
                return key
            stale = self._fetched_at is None or (
                self._clock() - self._fetched_at >= self._refetch_after
            )
            if stale:
                self._fetch_keys()
            key = self._keys.get(kid)
            if key is None:
                raise UnknownKeyError(f"the issuer publishes no key with id {kid!r}")
            return key

    def _discover(self) -> tuple[str, str]:
        if self._issuer is None or self._jwks_path is None:
            document = self._documents.get(DISCOVERY_PATH)
            issuer, jwks_uri = document.get("issuer"), document.get("jwks_uri")
            if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
                raise TransientError(f"{DISCOVERY_PATH} names no issuer or jwks_uri")
            self._issuer, self._jwks_path = issuer, urlsplit(jwks_uri).path
        return self._issuer, self._jwks_path

    def _fetch_keys(self) -> None:
        _, path = self._discover()
        document = self._documents.get(path)
        keys: dict[str, jwt.PyJWK] = {}
        entries = document.get("keys")
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                continue
            try:
                keys[entry["kid"]] = jwt.PyJWK.from_dict(entry)
            except jwt.PyJWTError:
                continue  # a key type we do not verify with; a token naming it is refused
        self._keys = keys
        self._fetched_at = self._clock()
