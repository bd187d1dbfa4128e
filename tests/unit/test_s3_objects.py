"""Naming, signing and refusing for `output.type: s3`, without a server."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest

from qiskit_operator.errors import UserError
from qiskit_operator.events.payloads import JobRef
from qiskit_operator.hardware.credentials import MemorySecrets
from qiskit_operator.models.spec import OutputSpec
from qiskit_operator.settings import ObjectStorageSettings, Settings
from qiskit_operator.storage import objects
from qiskit_operator.storage.signing import AccessKey, signed_headers
from qiskit_operator.storage.uploading import S3Results

JOB = JobRef(namespace="team-a", name="bell", uid="0123456789abcdef", generation=2)


def test_a_result_object_sits_under_the_prefix_and_the_jobs_namespace() -> None:
    output = objects.requested(OutputSpec(type="s3", bucket="results", prefix="/runs/"))
    assert objects.key_for(JOB, output) == "runs/team-a/bell-01234567-g2.json"
    assert objects.location_for(JOB, output) == "s3://results/runs/team-a/bell-01234567-g2.json"


def test_output_path_names_the_object_within_the_namespace_folder() -> None:
    output = objects.requested(OutputSpec(type="s3", bucket="results", path="x/y", format="csv"))
    assert objects.key_for(JOB, output) == "team-a/x/y.csv"


def test_a_location_splits_into_bucket_and_key() -> None:
    assert objects.split_location("s3://b/k/l.json") == ("b", "k/l.json")
    with pytest.raises(ValueError, match="not an s3:// location"):
        objects.split_location("configmap://ns/name")


@pytest.mark.parametrize("kind", ["gcs", "azure_blob"])
def test_gcs_and_azure_blob_are_refused_pointing_at_s3_compatible_endpoints(kind: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="S3-compatible endpoint"):
        OutputSpec.model_validate({"type": kind})


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"type": "s3"}, "output.bucket is required"),
        ({"type": "s3", "bucket": "Bad_Bucket"}, "S3 bucket name"),
        ({"type": "s3", "bucket": "ok-bucket", "prefix": "a/../b"}, "relative key prefix"),
        ({"type": "s3", "bucket": "ok-bucket", "endpoint": "ftp://x"}, "S3 endpoint URL"),
        ({"type": "s3", "bucket": "ok-bucket", "credentialsSecret": "A/B"}, "name of a Secret"),
    ],
)
def test_an_s3_output_that_cannot_work_is_refused_saying_what_to_change(
    fields: dict[str, str], words: str
) -> None:
    with pytest.raises(pydantic.ValidationError, match=words):
        OutputSpec.model_validate(fields)


def test_a_request_is_signed_as_the_signature_version_4_example_says() -> None:
    # The GET Object example of Amazon's Signature Version 4 documentation for S3.
    key = AccessKey("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    headers = signed_headers(
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        key,
        "us-east-1",
        datetime(2013, 5, 24, tzinfo=UTC),
        extra={"Range": "bytes=0-9"},
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_an_access_key_never_prints_its_secret() -> None:
    key = AccessKey("id", "very-secret")
    assert "very-secret" not in repr(key) and "very-secret" not in str(key)


def test_the_cluster_lists_the_endpoints_jobs_may_name() -> None:
    settings = Settings.from_env({"QOP_S3_ENDPOINTS": "http://127.0.0.1:9000/, https://s3.x"})
    assert settings.storage.endpoints == ("http://127.0.0.1:9000", "https://s3.x")
    results = S3Results(settings.storage, MemorySecrets())
    default = objects.requested(OutputSpec(type="s3", bucket="bkt"))
    assert results.endpoint_for(default) == "http://127.0.0.1:9000"
    other = objects.requested(OutputSpec(type="s3", bucket="bkt", endpoint="http://10.0.0.1"))
    with pytest.raises(UserError, match="not one this cluster allows"):
        results.endpoint_for(other)


def test_with_no_endpoint_listed_s3_output_is_refused_saying_who_can_change_it() -> None:
    results = S3Results(ObjectStorageSettings(endpoints=()), MemorySecrets())
    with pytest.raises(UserError, match="QOP_S3_ENDPOINTS is empty"):
        results.endpoint_for(objects.requested(OutputSpec(type="s3", bucket="bkt")))
