"""Which object holds a job's full result in S3: its key and its `s3://` location.

Pure, no I/O: execute names the object it writes with it, and reconcile the
object it expects (`claims.judge` compares that with what execute's event
says), so both agree without reconcile ever reaching the bucket. Keys put
each namespace under its own folder of the prefix, as the results volume does.
"""

from __future__ import annotations

from pathlib import Path

from qiskit_operator.events.payloads import JobRef, OutputRequest
from qiskit_operator.models.spec import OutputSpec
from qiskit_operator.results import ResultStore

DEFAULT_CREDENTIALS_SECRET = "qiskit-s3-credentials"
# ResultStore.relative_for checks the namespace and output.path; its root is unused here.
_RELATIVE = ResultStore(root=Path("/"))


def requested(output: OutputSpec) -> OutputRequest:
    """spec.output as the events carry it."""
    return OutputRequest(
        type=output.type,
        location=output.location,
        path=output.path,
        format=output.format,
        bucket=output.bucket,
        prefix=output.prefix,
        endpoint=output.endpoint,
        region=output.region,
        credentials_secret=output.credentials_secret,
    )


def key_for(job: JobRef, output: OutputRequest) -> str:
    """`<prefix>/<namespace>/<job>-<uid8>-g<generation>.<format>`, or with output.path
    `<prefix>/<namespace>/<path>.<format>`."""
    parts = _RELATIVE.relative_for(job, output)
    prefix = (output.prefix or "").strip("/")
    return "/".join((prefix, *parts) if prefix else parts)


def location_for(job: JobRef, output: OutputRequest) -> str:
    """The `s3://bucket/key` URL of the job's result: what status.results.location says."""
    return f"s3://{output.bucket}/{key_for(job, output)}"


def split_location(location: str) -> tuple[str, str]:
    """(bucket, key) of an `s3://bucket/key` URL; ValueError for anything else."""
    if not location.startswith("s3://"):
        raise ValueError(f"{location!r} is not an s3:// location")
    bucket, _, key = location[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ValueError(f"{location!r} names no bucket and key")
    return bucket, key
