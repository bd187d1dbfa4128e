"""The handlers count what happened to jobs, and FunctionEndpoint counts events and serves
/metrics where METRICS_ADDR says. Read from the one-process registry (no `qop serve`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import msgspec
import pytest

from qiskit_operator import metrics, wiring
from qiskit_operator.circuits.work import validated_work
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import to_binary
from qiskit_operator.executing import Executor
from qiskit_operator.kube.status import KubeStatusWriter
from qiskit_operator.local.pipeline import admit
from qiskit_operator.models import JobStatus, Phase, QiskitJob
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from qiskit_operator.sandbox import pool as sandboxing
from qiskit_operator.sandbox.pool import SandboxPool
from qiskit_operator.serving import FunctionEndpoint
from qiskit_operator.settings import Settings
from qiskit_operator.validating import Validator
from tests.conftest import Counted, bell_circuit, job_manifest, value
from tests.fake_apiserver import FakeAPIServer, FakeCluster

REQUEST = payloads.ExecutionRequest(shots=100, optimization_level=1, seed=7)


@pytest.fixture(scope="module")
def validator() -> Iterator[Validator]:
    # Bell written the usual way is read without the sandbox, and a syntax error is
    # found before it: this validator's sandbox never starts.
    running = wiring.validator(Settings())
    yield running
    running.close()


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Executor]:
    running = Executor(ResultStore(tmp_path_factory.mktemp("results")))
    yield running
    running.close()


def added(name: str, **changes: Any) -> Envelope:
    return resource_event(admit(job_manifest(name=name, **changes)), types.APISERVER_ADD)


def test_validate_counts_a_validated_job_with_its_circuits_size_and_time(
    validator: Validator,
) -> None:
    with (
        Counted("qop_jobs_total", function="validate", outcome="validated") as jobs,
        Counted("qop_circuit_qubits_sum") as qubits,
        Counted("qop_circuit_depth_sum") as depth,
        Counted("qop_validation_duration_seconds_count", format="python") as timed,
    ):
        reply = validator.handle(added("counted-bell"))
    assert reply is not None and reply.type == types.JOB_VALIDATED
    assert (jobs.by, qubits.by, depth.by, timed.by) == (1, 2, 3, 1)


def test_validate_counts_a_rejected_job_and_still_times_its_check(validator: Validator) -> None:
    with (
        Counted("qop_jobs_total", function="validate", outcome="rejected") as rejected,
        Counted("qop_jobs_total", function="validate", outcome="validated") as validated,
        Counted("qop_circuit_qubits_count") as sized,
        Counted("qop_validation_duration_seconds_count", format="python") as timed,
    ):
        reply = validator.handle(added("counted-broken", code="qc = (\n"))
    assert reply is not None and reply.type == types.JOB_REJECTED
    assert (rejected.by, validated.by, sized.by, timed.by) == (1, 0, 0, 1)


def test_the_validation_time_is_labelled_with_the_format_detected(validator: Validator) -> None:
    qasm = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nh q[0];\n'
    with Counted("qop_validation_duration_seconds_count", format="qasm2") as timed:
        validator.inspect(qasm)
    assert timed.by == 1


@pytest.mark.parametrize(
    ("program", "reason"),
    [("import os\nqc = 1\n", "Forbidden"), ("x = undefined_name\n", "ProgramError")],
)
def test_the_sandbox_counts_each_failure_by_its_reason(
    sandbox: SandboxPool, program: str, reason: str
) -> None:
    with (
        Counted("qop_sandbox_failures_total", reason=reason) as failures,
        pytest.raises(UserError) as raised,
    ):
        sandbox.run(program)
    assert raised.value.reason == reason
    assert failures.by == 1


def test_execute_counts_a_completed_run_and_times_it_by_primitive(executor: Executor) -> None:
    work = validated_work(bell_circuit(), REQUEST)
    event = Envelope(type=types.JOB_VALIDATED, source="/tests", data=payloads.encode(work))
    with (
        Counted("qop_jobs_total", function="execute", outcome="completed") as completed,
        Counted("qop_execution_duration_seconds_count", primitive="sampler") as timed,
    ):
        reply = executor.handle(event)
    assert reply is not None and reply.type == types.JOB_COMPLETED
    assert (completed.by, timed.by) == (1, 1)


def test_execute_counts_a_failed_job(executor: Executor) -> None:
    work = validated_work(bell_circuit(), REQUEST)
    broken = msgspec.structs.replace(work, circuit_qpy="AAAA")
    unreadable = Envelope(type=types.JOB_VALIDATED, source="/tests", data=payloads.encode(broken))
    with Counted("qop_jobs_total", function="execute", outcome="failed") as failed:
        reply = executor.handle(unreadable)
    assert reply is not None and reply.type == types.JOB_FAILED
    assert failed.by == 1


def test_reconcile_counts_each_phase_it_moves_a_job_into_once(
    validator: Validator, executor: Executor, tmp_path: Path
) -> None:
    obj = admit(job_manifest(name="counted-phases"))
    store = FakeCluster()
    store.add(QiskitJob.model_validate(obj))
    reconciler = Reconciler(store, ResultStore(tmp_path))
    add = resource_event(obj, types.APISERVER_ADD)
    validated = validator.handle(add)
    assert validated is not None
    completed = executor.handle(validated)
    assert completed is not None
    with (
        Counted("qop_job_phase_transitions_total", phase="Validating") as validating,
        Counted("qop_job_phase_transitions_total", phase="Scheduled") as scheduled,
        Counted("qop_job_phase_transitions_total", phase="Completed") as done,
        Counted("qop_status_patches_total") as patches,
    ):
        for event in (add, validated, completed, completed, validated):  # then duplicates
            reconciler.handle(event)
    assert (validating.by, scheduled.by, done.by) == (1, 1, 1)
    assert patches.by == 3


def test_every_retry_counts_as_a_move_into_retrying(tmp_path: Path) -> None:
    ref = payloads.JobRef(namespace="default", name="counted-retries", uid="u-r", generation=1)
    obj = admit(job_manifest(name="counted-retries"))
    obj["metadata"]["uid"] = ref.uid
    store = FakeCluster()
    store.add(QiskitJob.model_validate(obj))
    reconciler = Reconciler(store, ResultStore(tmp_path), max_retries=3)
    work = validated_work(bell_circuit(), REQUEST, ref)
    with Counted("qop_job_phase_transitions_total", phase="Retrying") as retrying:
        for attempt in (0, 1):
            again = msgspec.structs.replace(
                work, execution=msgspec.structs.replace(work.execution, attempt=attempt)
            )
            failed = payloads.JobFailed(
                job=ref, reason="TransientFailure", message="died", kind="transient", work=again
            )
            reconciler.handle(
                Envelope(type=types.JOB_FAILED, source="/tests", data=payloads.encode(failed))
            )
    assert retrying.by == 2


def test_the_kubernetes_writer_counts_patches_and_conflicts() -> None:
    api = FakeAPIServer()
    ref = payloads.JobRef(namespace="default", name="contended", uid="u-k", generation=1)
    api.apply(job_manifest(name="contended"), uid="u-k")
    api.fail("patch_status", "conflict")  # someone wrote the job since it was read
    writer = KubeStatusWriter(api.connection())  # type: ignore[arg-type]
    with (
        Counted("qop_status_patches_total") as patches,
        Counted("qop_status_conflicts_total") as conflicts,
    ):
        written = writer.update(ref, lambda _: JobStatus(phase=Phase.VALIDATING))
    assert written is not None
    assert (patches.by, conflicts.by) == (1, 1)


class Handler:
    def __init__(self) -> None:
        self.answer: Envelope | Exception | None = None

    def handle(self, event: Envelope) -> Envelope | None:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def ready(self) -> bool:
        return True


def client_for(endpoint: FunctionEndpoint) -> Any:
    app = flask.Flask("metrics-test")

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def serve(path: str) -> flask.Response:
        return endpoint(flask.request)

    return app.test_client()


def post(client: Any, event_type: str) -> int:
    headers, body = to_binary(Envelope(type=event_type, source="/tests", data=b"{}"))
    status: int = client.post("/", data=body, headers=headers).status_code
    return status


def test_the_endpoint_counts_events_received_and_replied_by_type() -> None:
    handler = Handler()
    client = client_for(FunctionEndpoint("execute", handler, metrics_addr=""))
    handler.answer = Envelope(type=types.JOB_COMPLETED, source="/tests", data=b"{}")
    with (
        Counted("qop_events_received_total", function="execute", type=types.JOB_VALIDATED) as got,
        Counted("qop_events_replied_total", function="execute", type=types.JOB_COMPLETED) as sent,
        Counted("qop_events_received_total", function="execute", type="other") as other,
    ):
        assert post(client, types.JOB_VALIDATED) == 200
        handler.answer = None
        assert post(client, "com.example.made.up") == 202
    assert (got.by, sent.by, other.by) == (1, 1, 1)


def test_the_endpoint_counts_error_answers_by_status_code() -> None:
    handler = Handler()
    client = client_for(FunctionEndpoint("reconcile", handler, metrics_addr=""))
    codes = ("400", "500", "503")
    before = {
        code: value("qop_event_errors_total", function="reconcile", code=code) for code in codes
    }
    assert client.post("/", data=b"not an event").status_code == 400
    handler.answer = UserError("bad", reason="InvalidEvent")
    assert post(client, types.JOB_COMPLETED) == 400
    handler.answer = TransientError("the API server is away")
    assert post(client, types.JOB_COMPLETED) == 503
    handler.answer = RuntimeError("a bug")
    assert post(client, types.JOB_COMPLETED) == 500
    counted = {
        code: value("qop_event_errors_total", function="reconcile", code=code) - before[code]
        for code in codes
    }
    assert counted == {"400": 2, "500": 1, "503": 1}


def test_metrics_are_served_on_the_functions_port_by_default() -> None:
    client = client_for(FunctionEndpoint("reconcile", Handler(), metrics_addr=""))
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain")
    text = answer.get_data(as_text=True)
    # Created at zero when the function starts, before anything happened.
    assert 'qop_job_phase_transitions_total{phase="Failed"} ' in text
    assert "qop_jobs_total" in text


def test_metrics_are_served_as_openmetrics_to_a_scraper_that_asks() -> None:
    client = client_for(FunctionEndpoint("reconcile", Handler(), metrics_addr=""))
    answer = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert answer.content_type.startswith("application/openmetrics-text")
    assert answer.get_data(as_text=True).endswith("# EOF\n")


def test_metrics_addr_zero_turns_metrics_off() -> None:
    client = client_for(FunctionEndpoint("reconcile", Handler(), metrics_addr="0"))
    assert client.get("/metrics").status_code == 404


def test_a_separate_metrics_listener_serves_only_metrics_and_the_functions_port_none() -> None:
    client = client_for(FunctionEndpoint("reconcile", Handler(), metrics_addr=":9464"))
    on_listener = {"SERVER_PORT": "9464"}
    assert client.get("/metrics").status_code == 404
    assert client.get("/health").status_code == 200
    assert client.get("/metrics", environ_overrides=on_listener).status_code == 200
    assert client.get("/health", environ_overrides=on_listener).status_code == 404
    assert client.post("/", data=b"x", environ_overrides=on_listener).status_code == 404


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", metrics.MetricsAddress()),
        ("0", metrics.MetricsAddress(enabled=False)),
        (":8080", metrics.MetricsAddress(port=8080)),
        ("127.0.0.1:9090", metrics.MetricsAddress(host="127.0.0.1", port=9090)),
        ("[::1]:9090", metrics.MetricsAddress(host="::1", port=9090)),
    ],
)
def test_metrics_addr_is_read_as_the_original_controller_documents_it(
    text: str, expected: metrics.MetricsAddress
) -> None:
    assert metrics.MetricsAddress.parse(text) == expected


@pytest.mark.parametrize("text", ["8080", "host:", ":http", ":70000"])
def test_a_metrics_addr_that_is_not_host_and_port_says_what_it_should_be(text: str) -> None:
    with pytest.raises(UserError, match="host:port"):
        metrics.MetricsAddress.parse(text)


def test_an_event_type_we_do_not_know_is_counted_as_other() -> None:
    assert metrics.event_type(types.APISERVER_ADD) == types.APISERVER_ADD
    assert metrics.event_type(types.JOB_FINISHED) == types.JOB_FINISHED
    assert metrics.event_type("default/my-job-name") == "other"


def test_every_reason_the_sandbox_reports_is_created_at_zero_when_validate_starts() -> None:
    reported = set(sandboxing._REASONS.values()) | {"ProgramError", "TimeLimit", "SandboxLimit"}
    assert reported <= set(metrics.SANDBOX_REASONS)
