"""Reading a job's full result back from S3, with the user's own key.

Called by `kubectl qiskit results` (plugin/commands.py) when status.results.location
is an `s3://` URL. The user's machine has no access to the cluster's Secrets, and
should not: it signs with the standard AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
of the user's environment. The endpoint is the job's spec.output.endpoint, else
AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else Amazon's.
"""

from __future__ import annotations

from collections.abc import Mapping

from qiskit_operator.models.spec import OutputSpec
from qiskit_operator.storage.objects import split_location
from qiskit_operator.storage.s3 import S3Bucket
from qiskit_operator.storage.signing import AccessKey

AMAZON = "https://s3.amazonaws.com"


def user_key(env: Mapping[str, str]) -> AccessKey | None:
    key_id, secret = env.get("AWS_ACCESS_KEY_ID", ""), env.get("AWS_SECRET_ACCESS_KEY", "")
    return AccessKey(key_id, secret) if key_id and secret else None


def read_result(
    location: str, output: OutputSpec | None, key: AccessKey, env: Mapping[str, str]
) -> bytes:
    """The object at `location`; UserError or TransientError saying why not."""
    bucket_name, object_key = split_location(location)
    endpoint = (
        (output.endpoint if output is not None else None)
        or env.get("AWS_ENDPOINT_URL_S3")
        or env.get("AWS_ENDPOINT_URL")
        or AMAZON
    )
    region = (output.region if output is not None else None) or env.get("AWS_REGION", "us-east-1")
    bucket = S3Bucket(endpoint, bucket_name, key, region, attempts=2)
    try:
        return bucket.get(object_key)
    finally:
        bucket.close()
