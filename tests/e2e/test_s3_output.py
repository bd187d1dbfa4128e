"""`output.type: s3` on a real API server: execute reads the namespace's S3 key (bound
to it alone), the result lands in a real S3-compatible server (versitygw on
127.0.0.1), status.results.location names it, and `kubectl qiskit results` reads
it back with the user's own key."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from qiskit_operator.local.stack import Stack
from qiskit_operator.storage.objects import split_location
from tests.conftest import ROOT
from tests.e2e.conftest import S3_ENDPOINT
from tests.e2e.test_kubectl_apply import wait_phase
from tests.objectstore import ACCESS_KEY, ObjectServer

BUCKET = "e2e-results"


def with_s3_credentials(stack: Stack) -> None:
    manifest = (ROOT / "examples" / "credentials" / "s3-credentials.yaml").read_text()
    manifest = manifest.replace(
        "accessKeyId: replace-me", f"accessKeyId: {ACCESS_KEY.access_key_id}"
    ).replace("secretAccessKey: replace-me", f"secretAccessKey: {ACCESS_KEY.secret_access_key}")
    stack.kubectl("-n", "default", "apply", "-f", "-", stdin=manifest)


@pytest.mark.timeout(300)
def test_a_jobs_result_lands_in_the_s3_server_and_reads_back(
    stack: Stack, object_server: ObjectServer
) -> None:
    object_server.created_bucket(BUCKET).close()
    with_s3_credentials(stack)
    manifest = yaml.safe_load((ROOT / "examples" / "s3-output.yaml").read_text())
    manifest["spec"]["output"].update({"bucket": BUCKET, "endpoint": S3_ENDPOINT})
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    wait_phase(stack, "bell-to-s3", "Completed")
    job = json.loads(stack.kubectl("get", "qjob", "bell-to-s3", "-o", "json").stdout)
    location = job["status"]["results"]["location"]
    bucket, key = split_location(location)
    assert bucket == BUCKET
    assert key.startswith("team-runs/default/bell-to-s3-")
    document = json.loads(object_server.bucket(BUCKET).get(key))
    assert document["job"]["uid"] == job["metadata"]["uid"]
    assert set(document["points"][0]["counts"]) == {"00", "11"}

    # kubectl qiskit results follows the s3:// location with the user's own key
    env = {
        **os.environ,
        "KUBECONFIG": str(stack.cluster.kubeconfig),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY.access_key_id,
        "AWS_SECRET_ACCESS_KEY": ACCESS_KEY.secret_access_key,
    }
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "qiskit_operator.plugin.commands",
            "results",
            "bell-to-s3",
            "-o",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert set(json.loads(shown.stdout)["points"][0]["counts"]) == {"00", "11"}


def test_a_bucket_that_does_not_exist_fails_the_job_naming_it(
    stack: Stack, object_server: ObjectServer
) -> None:
    with_s3_credentials(stack)
    manifest = yaml.safe_load((ROOT / "examples" / "s3-output.yaml").read_text())
    manifest["metadata"]["name"] = "bell-to-nowhere"
    manifest["spec"]["output"].update({"bucket": "no-such-bucket", "endpoint": S3_ENDPOINT})
    stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    wait_phase(stack, "bell-to-nowhere", "Failed")
    message = stack.kubectl(
        "get", "qjob", "bell-to-nowhere", "-o", "jsonpath={.status.message}"
    ).stdout
    assert "s3://no-such-bucket/" in message and "NoSuchBucket" in message
