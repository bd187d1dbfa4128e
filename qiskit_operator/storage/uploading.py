"""Execute's side of `output.type: s3`: put a job's full result in its bucket.

Called by `executing` after a run, in place of the results volume. Reads the
access key from the Secret `output.credentialsSecret` in the job's namespace
(execute is the one function that reads Secrets, docs/credentials.md), and
talks only to an endpoint the cluster lists in QOP_S3_ENDPOINTS: a job cannot
make execute send requests to an address of its choosing.
"""

from __future__ import annotations

from collections.abc import Callable

from qiskit_operator import metrics
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.events.payloads import JobRef, OutputRequest
from qiskit_operator.hardware.credentials import SecretReader
from qiskit_operator.settings import ObjectStorageSettings
from qiskit_operator.storage import objects
from qiskit_operator.storage.s3 import S3Bucket
from qiskit_operator.storage.signing import AccessKey

ACCESS_KEY_ID = "accessKeyId"
SECRET_ACCESS_KEY = "secretAccessKey"
CONTENT_TYPES = {"json": "application/json", "csv": "text/csv"}

BucketFactory = Callable[[str, str, AccessKey, str], S3Bucket]


class S3Results:
    def __init__(
        self,
        settings: ObjectStorageSettings,
        secrets: SecretReader,
        bucket: BucketFactory | None = None,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._bucket = bucket or self._new_bucket

    def put(self, job: JobRef, output: OutputRequest, document: bytes) -> str:
        """Upload the document; its `s3://bucket/key` location for the event."""
        try:
            location = self._put(job, output, document)
        except UserError:
            metrics.RESULT_UPLOADS.labels("refused").inc()
            raise
        except TransientError:
            metrics.RESULT_UPLOADS.labels("unavailable").inc()
            raise
        metrics.RESULT_UPLOADS.labels("ok").inc()
        return location

    def _put(self, job: JobRef, output: OutputRequest, document: bytes) -> str:
        if not output.bucket:
            raise UserError("output.type is s3, so output.bucket is required", reason="InvalidSpec")
        endpoint = self.endpoint_for(output)
        key = self._access_key(job.namespace, output)
        bucket = self._bucket(endpoint, output.bucket, key, output.region or self._settings.region)
        try:
            bucket.put(
                objects.key_for(job, output),
                document,
                CONTENT_TYPES.get(output.format, "application/octet-stream"),
            )
        finally:
            bucket.close()
        return objects.location_for(job, output)

    def endpoint_for(self, output: OutputRequest) -> str:
        """output.endpoint if the cluster allows it, else the cluster's first endpoint."""
        allowed = self._settings.endpoints
        if output.endpoint is None:
            if not allowed:
                raise UserError(
                    "output.type s3 is not available: this cluster allows no S3 endpoint "
                    "(QOP_S3_ENDPOINTS is empty); ask its administrator (docs/storage.md)",
                    reason="OutputRefused",
                )
            return allowed[0]
        endpoint = output.endpoint.rstrip("/")
        if endpoint not in allowed:
            raise UserError(
                f"output.endpoint {endpoint} is not one this cluster allows "
                f"({', '.join(allowed) or 'none'}); use one of those, or ask the administrator "
                "to add it to QOP_S3_ENDPOINTS (docs/storage.md)",
                reason="OutputRefused",
            )
        return endpoint

    def _access_key(self, namespace: str, output: OutputRequest) -> AccessKey:
        name = output.credentials_secret or objects.DEFAULT_CREDENTIALS_SECRET
        try:
            return AccessKey(
                self._secrets.read_key(namespace, name, ACCESS_KEY_ID).strip(),
                self._secrets.read_key(namespace, name, SECRET_ACCESS_KEY).strip(),
            )
        except UserError as error:
            raise UserError(
                f"the S3 credentials of bucket {output.bucket}: {error.message}; "
                f"kubectl -n {namespace} create secret generic {name} "
                f"--from-literal={ACCESS_KEY_ID}=... --from-literal={SECRET_ACCESS_KEY}=... "
                "and let execute read it (docs/storage.md)",
                reason=error.reason,
            ) from error

    def _new_bucket(self, endpoint: str, name: str, key: AccessKey, region: str) -> S3Bucket:
        return S3Bucket(
            endpoint,
            name,
            key,
            region,
            attempts=self._settings.attempts,
            timeout_seconds=self._settings.timeout_seconds,
        )
