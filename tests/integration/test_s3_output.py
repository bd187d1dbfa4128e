"""Results of `output.type: s3` land in a real S3-compatible server (versitygw on
127.0.0.1) and read back; a bucket that is not there, or an endpoint that does not
answer, fails the job naming the bucket and the reason, after retries."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from qiskit_operator.errors import TransientError
from qiskit_operator.hardware.credentials import MemorySecrets
from qiskit_operator.local.pipeline import LocalPipeline
from qiskit_operator.models import Phase, QiskitJob
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore
from qiskit_operator.storage.objects import split_location
from qiskit_operator.storage.s3 import S3Bucket
from qiskit_operator.storage.signing import AccessKey
from tests.conftest import Counted, job_manifest
from tests.objectstore import (
    ACCESS_KEY,
    ObjectServer,
    free_port,
    running_object_server,
    versitygw_or_skip,
)

BUCKET = "quantum-results"
WRONG_SECRET = "sk-9c2e71d4"  # what must never show


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectServer]:
    binary = versitygw_or_skip()
    with running_object_server(binary, tmp_path_factory.mktemp("s3")) as running:
        running.created_bucket(BUCKET).close()
        yield running


@pytest.fixture(scope="module")
def pipeline(
    server: ObjectServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPipeline]:
    secrets = MemorySecrets(
        {
            ("default", "qiskit-s3-credentials"): {
                "accessKeyId": ACCESS_KEY.access_key_id,
                "secretAccessKey": ACCESS_KEY.secret_access_key,
            },
            ("default", "wrong-key"): {"accessKeyId": "nobody", "secretAccessKey": WRONG_SECRET},
        }
    )
    settings = Settings.from_env(
        {
            **os.environ,
            "QOP_S3_ENDPOINTS": server.endpoint,
            "QOP_S3_ATTEMPTS": "2",
            "QOP_RESULTS_DIR": str(tmp_path_factory.mktemp("results")),
        }
    )
    with LocalPipeline(settings, store=MemoryStatusStore(), secrets=secrets) as running:
        yield running


def s3_job(name: str, **output: object) -> dict[str, object]:
    manifest = job_manifest(name, seed=7)
    manifest["spec"]["output"] = {"type": "s3", "bucket": BUCKET, **output}
    return manifest


def location_of(job: QiskitJob) -> str:
    assert job.status is not None and job.status.phase is Phase.COMPLETED, job.status
    assert job.status.results is not None and job.status.results.location is not None
    return job.status.results.location


def failed_message(job: QiskitJob) -> str:
    assert job.status is not None and job.status.phase is Phase.FAILED, job.status
    return job.status.message or ""


def test_a_jobs_json_result_lands_in_the_bucket_and_reads_back(
    pipeline: LocalPipeline, server: ObjectServer
) -> None:
    with Counted("qop_result_uploads_total", outcome="ok") as uploaded:
        job = pipeline.run(s3_job("bell-s3", prefix="team-a/runs"))
    assert uploaded.by == 1
    location = location_of(job)
    bucket, key = split_location(location)
    assert bucket == BUCKET
    assert key.startswith("team-a/runs/default/bell-s3-") and key.endswith(".json")
    document = json.loads(server.bucket(BUCKET).get(key))
    assert document["job"]["name"] == "bell-s3"
    assert sum(document["points"][0]["counts"].values()) == document["shots"]
    # the object is a file of the posix backend: the bytes really are on the server
    assert (server.root / BUCKET / key).is_file()


def test_a_csv_result_is_written_as_csv(pipeline: LocalPipeline, server: ObjectServer) -> None:
    job = pipeline.run(s3_job("bell-csv", format="csv"))
    _, key = split_location(location_of(job))
    rows = list(csv.reader(io.StringIO(server.bucket(BUCKET).get(key).decode())))
    assert rows[0] == ["binding", "outcome", "count"]
    assert sum(int(row[2]) for row in rows[1:]) == 1024


def test_a_bucket_that_does_not_exist_fails_the_job_naming_it_and_the_reason(
    pipeline: LocalPipeline,
) -> None:
    manifest = s3_job("no-bucket")
    manifest["spec"]["output"]["bucket"] = "no-such-bucket"
    with Counted("qop_result_uploads_total", outcome="refused") as refused:
        message = failed_message(pipeline.run(manifest))
    assert refused.by == 1  # no retry can create a bucket
    assert "s3://no-such-bucket/" in message
    assert "NoSuchBucket" in message
    assert "create the bucket or change output.bucket" in message


def test_a_key_the_server_does_not_know_fails_naming_the_secret_to_fix(
    pipeline: LocalPipeline,
) -> None:
    message = failed_message(pipeline.run(s3_job("wrong-key", credentialsSecret="wrong-key")))
    assert f"s3://{BUCKET}/" in message
    assert "fix key accessKeyId of the Secret output.credentialsSecret names" in message
    assert WRONG_SECRET not in message


def test_a_missing_credentials_secret_fails_saying_how_to_create_it(
    pipeline: LocalPipeline,
) -> None:
    message = failed_message(pipeline.run(s3_job("no-secret", credentialsSecret="absent")))
    assert f"the S3 credentials of bucket {BUCKET}" in message
    assert "kubectl -n default create secret generic absent" in message


def test_an_endpoint_the_cluster_does_not_list_is_refused(pipeline: LocalPipeline) -> None:
    message = failed_message(pipeline.run(s3_job("elsewhere", endpoint="http://169.254.169.254")))
    assert "output.endpoint http://169.254.169.254 is not one this cluster allows" in message


def test_gcs_output_is_refused_pointing_at_s3_compatible_endpoints(
    pipeline: LocalPipeline,
) -> None:
    manifest = job_manifest("to-gcs")
    manifest["spec"]["output"] = {"type": "gcs"}
    job = pipeline.run(manifest)
    assert job.status is not None and job.status.phase is Phase.FAILED
    assert "output.type: s3 with output.endpoint" in (job.status.message or "")


def test_an_endpoint_that_does_not_answer_is_retried_then_fails_with_the_reason(
    tmp_path: Path,
) -> None:
    waits: list[float] = []
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    bucket = S3Bucket(closed, BUCKET, AccessKey("a", "b"), attempts=3, sleep=waits.append)
    with (
        Counted("qop_result_upload_retries_total") as retried,
        pytest.raises(TransientError) as raised,
    ):
        bucket.put("x.json", b"{}")
    assert retried.by == 2
    assert waits == [0.5, 1.0]  # three tries, backing off
    assert f"s3://{BUCKET}/x.json" in raised.value.message
    assert "after 3 attempts" in raised.value.message
    assert "could not be reached" in raised.value.message
