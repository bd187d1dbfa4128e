"""AWS Signature Version 4 for S3 requests: the `Authorization` header a request needs.

Called by `s3` for every request. Written here rather than taken from boto3,
botocore or minio: execute needs two calls (put and get an object), its image
is at 423 of its 450 MB, and the libraries bring 10 to 25 MB for the rest of S3
(docs/storage.md). Pure: the clock is an argument, so tests sign known requests.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An S3 access key pair; its repr never shows the secret."""

    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:
        return f"AccessKey({self.access_key_id}, ***)"

    __str__ = __repr__


def payload_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def signed_headers(
    method: str,
    url: str,
    key: AccessKey,
    region: str,
    now: datetime,
    body_sha256: str = EMPTY_SHA256,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers to send with `method url`: Host, the date, the payload's hash, every
    header of `extra` (all signed) and Authorization. `now` is in UTC. The URL's path
    must be what is sent: each segment percent-encoded once (`quote_path`)."""
    parts = urlsplit(url)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    headers = {
        "host": parts.netloc,
        "x-amz-content-sha256": body_sha256,
        "x-amz-date": stamp,
        **{name.lower(): value.strip() for name, value in (extra or {}).items()},
    }
    names = sorted(headers)
    canonical = "\n".join(
        (
            method,
            parts.path or "/",
            _canonical_query(parts.query),
            "".join(f"{name}:{headers[name]}\n" for name in names),
            ";".join(names),
            body_sha256,
        )
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join((ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()))
    signing_key = _derive(key.secret_access_key, day, region)
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"{ALGORITHM} Credential={key.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers


def quote_path(*segments: str) -> str:
    """`/segment/...`, each encoded as S3 expects: unreserved characters and '/' kept."""
    return "/" + "/".join(quote(segment, safe="/-_.~") for segment in segments)


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = sorted(tuple(pair.partition("=")[::2]) for pair in query.split("&"))
    return "&".join(f"{name}={value}" for name, value in pairs)


def _derive(secret: str, day: str, region: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
