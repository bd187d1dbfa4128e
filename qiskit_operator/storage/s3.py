"""One S3 bucket over HTTP: put and get an object, create the bucket, with retries.

Called by `uploading` (execute) and by tests against a real S3-compatible
server. Path-style URLs (`endpoint/bucket/key`), which every S3-compatible
server takes. Errors come out in the project's model: what the user can fix
(no such bucket, access denied, a wrong key) as `UserError` naming the bucket
and the server's reason; what may pass (connection refused, timeouts, 5xx,
SlowDown) retried with backoff, then `TransientError` saying the same.
No `requests` exception leaves this module.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

import requests

from qiskit_operator import metrics
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.storage.signing import AccessKey, payload_hash, quote_path, signed_headers

MAX_ERROR_BYTES = 64 * 1024
# Statuses worth another try: the server is busy, restarting or asks to slow down.
_RETRIED = frozenset({408, 429, 500, 502, 503, 504})
# What S3 says in its error document; read with a pattern, never an XML parser, so a
# hostile endpoint's document cannot expand entities.
_CODE = re.compile(rb"<Code>([^<]{1,128})</Code>")
_MESSAGE = re.compile(rb"<Message>([^<]{1,512})</Message>")
_FIXES = {
    "NoSuchBucket": "create the bucket or change output.bucket",
    "AccessDenied": "grant the key in output.credentialsSecret access to the bucket",
    "InvalidAccessKeyId": "fix key accessKeyId of the Secret output.credentialsSecret names",
    # versitygw's word for it
    "XAdminUserNotFound": "fix key accessKeyId of the Secret output.credentialsSecret names",
    "SignatureDoesNotMatch": "fix key secretAccessKey of the Secret output.credentialsSecret "
    "names, or output.region",
    "AuthorizationHeaderMalformed": "set output.region to the bucket's region",
    "NoSuchKey": "the object is gone: run the job again",
}


class S3Bucket:
    def __init__(
        self,
        endpoint: str,
        bucket: str,
        key: AccessKey,
        region: str = "us-east-1",
        *,
        attempts: int = 4,
        timeout_seconds: float = 30.0,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self._key = key
        self._region = region
        self._attempts = max(1, attempts)
        self._timeout = timeout_seconds
        self._backoff = backoff_seconds
        self._sleep = sleep
        self._session = requests.Session()
        # The endpoint is one the cluster lists: no proxy from the environment in between.
        self._session.trust_env = False

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        failing = f"the result could not be written to s3://{self.bucket}/{key}"
        self._call(
            "PUT", quote_path(self.bucket, key), failing, body, {"content-type": content_type}
        )

    def get(self, key: str) -> bytes:
        failing = f"the result could not be read from s3://{self.bucket}/{key}"
        return self._call("GET", quote_path(self.bucket, key), failing)

    def create(self) -> None:
        """Create the bucket; one that is already ours is fine."""
        try:
            self._call("PUT", quote_path(self.bucket), f"bucket {self.bucket} could not be created")
        except UserError as error:
            if "BucketAlreadyOwnedByYou" not in error.message:
                raise

    def close(self) -> None:
        self._session.close()

    def _call(
        self,
        method: str,
        path: str,
        failing: str,
        body: bytes = b"",
        extra: dict[str, str] | None = None,
    ) -> bytes:
        url = self.endpoint + path
        reason = ""
        for attempt in range(self._attempts):
            if attempt:
                metrics.RESULT_UPLOAD_RETRIES.inc()
                self._sleep(self._backoff * 2 ** (attempt - 1))
            headers = signed_headers(
                method, url, self._key, self._region, datetime.now(UTC), payload_hash(body), extra
            )
            try:
                response = self._session.request(
                    method,
                    url,
                    data=body or None,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                    stream=True,
                )
                with response:
                    if response.status_code < 300:
                        return response.content
                    text = response.raw.read(MAX_ERROR_BYTES, decode_content=True)
            except requests.RequestException as error:
                reason = _connection_reason(error)
                continue
            reason = _server_reason(response.status_code, text)
            if response.status_code not in _RETRIED:
                code = _code(text)
                fix = _FIXES.get(code, "see docs/storage.md")
                raise UserError(
                    f"{failing} at {self.endpoint}: {reason}; {fix}",
                    reason="OutputFailed",
                )
        raise TransientError(
            f"{failing} at {self.endpoint} after {self._attempts} attempts: {reason}"
        )


def _code(text: bytes) -> str:
    found = _CODE.search(text)
    return found.group(1).decode(errors="replace") if found else ""


def _server_reason(status: int, text: bytes) -> str:
    code = _code(text)
    message = _MESSAGE.search(text)
    said = message.group(1).decode(errors="replace") if message else ""
    return f"HTTP {status}" + (f" {code}" if code else "") + (f" ({said})" if said else "")


def _connection_reason(error: requests.RequestException) -> str:
    if isinstance(error, requests.Timeout):
        return "the endpoint did not answer in time"
    if isinstance(error, requests.ConnectionError):
        return "the endpoint could not be reached (connection refused or reset)"
    return f"the request failed ({type(error).__name__})"
