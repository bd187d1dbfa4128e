"""`qop run` has no QiskitSessions (they need the API server's watch to hand out
turns): a job naming one fails at once saying where it can run, not after retries."""

from __future__ import annotations

from qiskit_operator.local.pipeline import LocalPipeline
from qiskit_operator.models import Phase
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore
from tests.conftest import job_manifest


def test_a_job_naming_a_session_on_one_machine_is_refused_saying_where_it_can_run() -> None:
    manifest = job_manifest("in-session")
    manifest["spec"]["session"] = {"name": "calibration"}
    with LocalPipeline(Settings.from_env(), store=MemoryStatusStore()) as pipeline:
        job = pipeline.run(manifest)
    assert job.status is not None and job.status.phase is Phase.FAILED
    assert job.status.message == (
        "spec.session needs a cluster's QiskitSessions, and `qop run` has none: run the job "
        "on a cluster (`qop dev up`, docs/sessions.md) or remove spec.session"
    )
