"""The whole pipeline on one machine, in-process and over real HTTP servers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from qiskit_operator.events import types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.local.pipeline import LocalPipeline, admit
from qiskit_operator.models import Phase, QiskitJob
from qiskit_operator.routing.delivery import DeliveryError, HttpSubscriber, deliver_with_retry
from qiskit_operator.routing.triggers import DeliverySpec
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore
from tests.conftest import BELL_QASM2, JsonLines, example, job_manifest

SHOTS = 1024
FIVE_SIGMA = 5 * (SHOTS * 0.25) ** 0.5


@pytest.fixture(scope="module")
def in_process() -> Iterator[LocalPipeline]:
    with LocalPipeline(Settings.from_env(), store=MemoryStatusStore()) as pipeline:
        yield pipeline


@pytest.fixture(scope="module")
def over_http() -> Iterator[LocalPipeline]:
    with LocalPipeline(Settings.from_env(), http=True) as pipeline:
        yield pipeline


def assert_bell_counts(job: QiskitJob) -> None:
    assert job.status is not None, "the job has no status"
    assert job.status.phase is Phase.COMPLETED, job.status.message
    counts = job.status.results.counts if job.status.results else None
    assert counts is not None and set(counts) == {"00", "11"}
    assert sum(counts.values()) == SHOTS
    assert abs(counts["00"] - SHOTS / 2) < FIVE_SIGMA


def test_bell_completes_in_process_with_counts_near_half_and_half(
    in_process: LocalPipeline,
) -> None:
    assert_bell_counts(in_process.run(example("bell.yaml")))


def test_bell_completes_over_real_http_servers(over_http: LocalPipeline) -> None:
    assert all(s.url.startswith("http://127.0.0.1:") for s in over_http._servers)  # real sockets
    assert_bell_counts(over_http.run(job_manifest(name="bell-http")))


def test_reconcile_logs_each_move_of_a_job_once_with_its_trace(in_process: LocalPipeline) -> None:
    logger = logging.getLogger("qiskit_operator.reconciling")
    handler, level = JsonLines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        job = in_process.run(job_manifest(name="bell-logged"))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert [line["message"] for line in handler.lines] == [
        "default/bell-logged: new -> Validating: Validating the circuit",
        "default/bell-logged: Validating -> Scheduled: Scheduled on aer_simulator",
        "default/bell-logged: Scheduled -> Completed: Completed: 1024 shots on aer_simulator",
    ]
    assert job.metadata.uid is not None
    assert {line["trace_id"] for line in handler.lines} == {job.metadata.uid.replace("-", "")}
    assert {line["job"] for line in handler.lines} == {"default/bell-logged"}


def test_bell_in_openqasm_2_completes_the_same_way(in_process: LocalPipeline) -> None:
    job = in_process.run(job_manifest(name="bell-qasm", code=BELL_QASM2))
    assert_bell_counts(job)
    assert job.status is not None and job.status.metrics is not None
    assert job.status.metrics.transpiled is False  # Aer runs h, cx and measure as written


def test_ghz_in_openqasm_3_gives_only_all_zeros_and_all_ones(in_process: LocalPipeline) -> None:
    job = in_process.run(example("ghz.yaml"))
    assert job.status is not None and job.status.phase is Phase.COMPLETED, job.status
    counts = job.status.results.counts if job.status.results else {}
    assert set(counts or {}) == {"00000", "11111"}


@pytest.mark.parametrize("mode", ["in_process", "over_http"])
def test_the_failing_example_ends_failed_with_the_line_and_reason(
    mode: str, request: pytest.FixtureRequest
) -> None:
    pipeline: LocalPipeline = request.getfixturevalue(mode)
    job = pipeline.run(example("broken.yaml"))
    assert job.status is not None and job.status.phase is Phase.FAILED
    assert "line 4" in (job.status.message or "")
    assert "never closed" in (job.status.message or "")
    assert job.status.completion_time is not None


def test_same_seed_gives_the_same_counts(in_process: LocalPipeline) -> None:
    first = in_process.run(job_manifest(name="seeded-a", seed=1234))
    second = in_process.run(job_manifest(name="seeded-b", seed=1234))
    assert first.status and second.status and first.status.results and second.status.results
    assert first.status.results.counts == second.status.results.counts


def test_every_event_delivered_again_and_in_reverse_leaves_the_status_as_it_was(
    in_process: LocalPipeline,
) -> None:
    obj = admit(job_manifest(name="replayed"))
    in_process.store.add(QiskitJob.model_validate(obj))
    first_run = in_process.broker()
    first_run.publish(resource_event(obj, types.APISERVER_ADD))
    first_run.run_until_idle()
    before = in_process.store.get("default/replayed")
    assert before is not None and before.status is not None
    assert before.status.phase is Phase.COMPLETED
    events = [event for _, event in first_run.delivered]
    assert {e.type for e in events} >= {
        types.APISERVER_ADD,
        types.JOB_VALIDATED,
        types.JOB_COMPLETED,
    }

    replay = in_process.broker()
    for event in events + list(reversed(events)):
        replay.publish(event)
    replay.run_until_idle()

    after = in_process.store.get("default/replayed")
    assert after is not None and after.status == before.status


class FlakyFunction:
    """A real HTTP server that fails `failures` times with 503, then accepts."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @Request.application  # type: ignore[untyped-decorator]
    def app(self, request: Request) -> Response:
        self.calls += 1
        if self.calls <= self.failures:
            return Response("busy", status=503)
        return Response(status=202)


def test_http_delivery_retries_with_exponential_backoff_until_the_function_answers() -> None:
    flaky = FlakyFunction(failures=2)
    waits: list[float] = []
    event = Envelope(type=types.JOB_COMPLETED, source="/test", data=b"{}")
    delivery = DeliverySpec(retry=3, backoff_delay_seconds=0.2)
    try:
        reply = deliver_with_retry(
            HttpSubscriber("flaky", flaky.url), event, delivery, sleep=waits.append
        )
        assert reply is None and flaky.calls == 3
        assert waits == pytest.approx([0.2, 0.4])
        flaky.calls, waits[:] = 0, []
        with pytest.raises(DeliveryError, match="503"):
            deliver_with_retry(
                HttpSubscriber("flaky", flaky.url),
                event,
                DeliverySpec(retry=1, backoff_delay_seconds=0.1),
                sleep=waits.append,
            )
        assert flaky.calls == 2
    finally:
        flaky.server.shutdown()
