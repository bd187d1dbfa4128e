"""A sweep's progress while it runs: Aer runs it in chunks with the very results of one
call, the confined worker passes its counts on, execute turns them into `job.progressed`
events, and those reach a real HTTP Broker with execute's token."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from qiskit_operator.auth.tokens import ProjectedToken
from qiskit_operator.circuits.serialization import to_qpy
from qiskit_operator.circuits.work import validated_work
from qiskit_operator.events import payloads, types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import from_request
from qiskit_operator.events.publishing import BrokerPublisher
from qiskit_operator.executing import Executor
from qiskit_operator.execution import messages
from qiskit_operator.execution.aer import AerRunner, Workload
from qiskit_operator.execution.isolation import IsolatedRunner
from qiskit_operator.results import ResultStore

REF = payloads.JobRef(namespace="default", name="sweep", uid="u-sweep", generation=1)
SETS = 40


def rotation() -> QuantumCircuit:
    theta = Parameter("θ")
    circuit = QuantumCircuit(3, 3)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    circuit.rx(theta / 2, 2)
    circuit.measure(range(3), range(3))
    return circuit


def rows(count: int = SETS) -> tuple[tuple[float, ...], ...]:
    return tuple((float(x),) for x in np.linspace(0, np.pi, count))


def sweep(primitive: str = "sampler") -> Workload:
    circuit = rotation()
    if primitive == "estimator":
        circuit = circuit.remove_final_measurements(inplace=False)
    return Workload(
        circuit=circuit,
        circuit_hash=f"rotation-{primitive}",
        shots=500,
        seed=42,
        primitive="estimator" if primitive == "estimator" else "sampler",
        observables=("ZZI", "XIX") if primitive == "estimator" else (),
        parameter_values=rows(),
    )


def test_a_sweep_run_in_chunks_gives_the_very_counts_of_one_call() -> None:
    reports: list[tuple[int, int]] = []
    whole = AerRunner().run(sweep())
    chunked = AerRunner().run(sweep(), lambda done, total: reports.append((done, total)))
    assert [p.counts for p in chunked.points] == [p.counts for p in whole.points]
    assert len(reports) >= 2 and reports[-1] == (SETS, SETS)
    assert all(a[0] < b[0] for a, b in itertools.pairwise(reports))


def test_an_exact_estimator_sweep_run_in_chunks_gives_the_same_values() -> None:
    reports: list[int] = []
    whole = AerRunner().run(sweep("estimator"))
    chunked = AerRunner().run(sweep("estimator"), lambda done, total: reports.append(done))
    assert [p.expectation_values for p in chunked.points] == [
        p.expectation_values for p in whole.points
    ]
    assert reports[-1] == SETS


def test_the_confined_worker_reports_a_sweeps_progress_before_its_outcome() -> None:
    work = sweep()
    reports: list[tuple[int, int]] = []
    isolated = IsolatedRunner()
    try:
        outcome = isolated.run_message(
            messages.workload_message(work, to_qpy(work.circuit)),
            120,
            progress=lambda done, total: reports.append((done, total)),
        )
    finally:
        isolated.close()
    assert reports and reports[-1] == (SETS, SETS)
    assert [p.counts for p in outcome.points] == [p.counts for p in AerRunner().run(work).points]


def validated_sweep(attempt: int = 0) -> Envelope:
    request = payloads.ExecutionRequest(
        shots=500,
        optimization_level=1,
        seed=42,
        parameter_values=[list(row) for row in rows()],
        attempt=attempt,
    )
    work = validated_work(rotation(), request, REF)
    return Envelope(
        type=types.JOB_VALIDATED,
        source="/test",
        subject="/apis/quantum.io/v1/namespaces/default/qiskitjobs/sweep",
        data=payloads.encode(work),
        extensions={types.EXT_JOB_UID: REF.uid, types.EXT_GENERATION: "1"},
    )


def test_execute_sends_a_sweeps_progress_as_job_progressed_events_of_its_attempt(
    tmp_path: Path,
) -> None:
    published: list[Envelope] = []
    executor = Executor(ResultStore(tmp_path), publish=published.append, progress_interval=0.0)
    try:
        reply = executor.handle(validated_sweep(attempt=2))
    finally:
        executor.close()
    assert reply is not None and reply.type == types.JOB_COMPLETED
    assert published and all(e.type == types.JOB_PROGRESSED for e in published)
    counts = [payloads.decode(e.type, e.data) for e in published]
    assert all(isinstance(c, payloads.JobProgressed) for c in counts)
    progressed = [c for c in counts if isinstance(c, payloads.JobProgressed)]
    assert [c.done for c in progressed] == sorted({c.done for c in progressed})
    assert {(c.job, c.total, c.attempt, c.unit) for c in progressed} == {
        (REF, SETS, 2, "parameter sets")
    }
    assert all(e.subject == reply.subject and e.extension("jobuid") == REF.uid for e in published)


def test_execute_without_a_broker_runs_a_sweep_whole_and_sends_nothing(tmp_path: Path) -> None:
    executor = Executor(ResultStore(tmp_path))
    try:
        reply = executor.handle(validated_sweep())
    finally:
        executor.close()
    assert reply is not None and reply.type == types.JOB_COMPLETED


class Ingress:
    """A Broker's ingress on loopback that keeps what it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], Envelope]] = []
        self.arrived = threading.Event()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        headers = dict(request.headers)
        self.received.append((headers, from_request(headers, request.get_data())))
        self.arrived.set()
        return Response(status=202)(environ, start_response)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def progressed_event() -> Envelope:
    count = payloads.JobProgressed(job=REF, done=3, total=SETS)
    return Envelope(type=types.JOB_PROGRESSED, source="/t", data=payloads.encode(count))


def test_progress_reaches_the_brokers_ingress_with_executes_token(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("execute-broker-token\n")
    ingress = Ingress()
    try:
        publisher = BrokerPublisher(ingress.url, ProjectedToken(token))
        event = progressed_event()
        publisher(event)
        assert ingress.arrived.wait(30)
    finally:
        ingress.stop()
    (headers, received), *_ = ingress.received
    assert headers["Authorization"] == "Bearer execute-broker-token"
    assert (received.type, received.id, received.data) == (event.type, event.id, event.data)


def test_a_broker_that_cannot_be_reached_never_fails_the_run(tmp_path: Path) -> None:
    ingress = Ingress()
    url = ingress.url
    ingress.stop()  # nothing listens there any more
    publisher = BrokerPublisher(url, ProjectedToken(tmp_path / "missing"), timeout=1.0)
    publisher(progressed_event())  # returns at once; the failure is logged on its thread
    deadline = time.monotonic() + 30
    while publisher.failed == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (publisher.failed, publisher.sent) == (1, 0)
    publisher(progressed_event())  # the next report is tried again, not refused
    while publisher.failed == 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert publisher.failed == 2
