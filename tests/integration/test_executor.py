"""The execute handler's own promises: retries wait out their backoff, the time-limited
worker gives the same answers, and a worker that dies is a transient failure."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import msgspec
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import quantum_volume

from qiskit_operator.circuits.work import validated_work
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.executing import Executor
from qiskit_operator.execution.aer import AerRunner, Workload
from qiskit_operator.execution.isolation import IsolatedRunner
from qiskit_operator.local.pipeline import admit
from qiskit_operator.results import ResultStore
from qiskit_operator.sandbox import confinement
from tests.conftest import BELL_QASM2, bell_circuit, job_manifest

REF = payloads.JobRef(namespace="default", name="bell", uid="u-2", generation=1)


def validated(circuit: QuantumCircuit, **execution: object) -> payloads.JobValidated:
    request = payloads.ExecutionRequest(shots=2000, optimization_level=1, seed=42, **execution)  # type: ignore[arg-type]
    return validated_work(circuit, request, REF)


def test_a_retry_waits_until_its_not_before_time(tmp_path: Path) -> None:
    waits: list[float] = []
    executor = Executor(ResultStore(tmp_path), sleep=waits.append)
    work = validated(bell_circuit(), attempt=1, not_before=time.time() + 2.0)
    try:
        completed = executor.execute(work)
    finally:
        executor.close()
    assert len(waits) == 1 and 1.5 < waits[0] <= 2.0
    assert set(completed.counts or {}) == {"00", "11"}


def test_the_time_limited_worker_gives_the_counts_of_an_in_process_run() -> None:
    work = Workload(
        circuit=bell_circuit(), circuit_hash="bell", shots=3000, seed=9, method="statevector"
    )
    isolated = IsolatedRunner()
    try:
        apart = isolated.run(work, timeout=60)
    finally:
        isolated.close()
    together = AerRunner().run(work)
    assert apart.points[0].counts == together.points[0].counts
    assert apart.method == together.method == "statevector"


def test_a_worker_that_dies_mid_run_is_a_transient_failure() -> None:
    slow = quantum_volume(22, depth=20, seed=1)
    slow.measure_all()
    work = Workload(
        circuit=slow,
        circuit_hash="qv22",
        shots=10,
        seed=1,
        method="statevector",
        optimization_level=0,
    )
    isolated = IsolatedRunner()
    raised: list[BaseException] = []

    def run() -> None:
        try:
            isolated.run(work, timeout=120)
        except BaseException as error:
            raised.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    # The worker confines itself with one thread, then waits for work: a second thread
    # (Aer's OpenMP, Qiskit's) starts only once it has taken the circuit.
    deadline = time.monotonic() + 60
    while not simulating(isolated):
        assert time.monotonic() < deadline, "the worker did not start simulating in 60 s"
        time.sleep(0.05)
    assert isolated._process is not None
    os.kill(isolated._process.pid, signal.SIGKILL)  # what the kernel's OOM killer does
    thread.join(60)
    isolated.close()
    assert not thread.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], TransientError)
    assert "the simulation worker died (exit code -9)" in str(raised[0])


def simulating(isolated: IsolatedRunner) -> bool:
    process = isolated._process
    if process is None:
        return False
    try:
        return len(os.listdir(f"/proc/{process.pid}/task")) > 1
    except FileNotFoundError:
        return False


def test_execute_reports_a_transient_failure_with_the_work_to_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = Executor(ResultStore(tmp_path))

    def broken(work: Workload, progress: object = None) -> None:
        raise TransientError("the simulation worker died (exit code -9)")

    monkeypatch.setattr(executor.runner, "run", broken)
    event = Envelope(
        type=types.JOB_VALIDATED, source="/test", data=payloads.encode(validated(bell_circuit()))
    )
    reply = executor.handle(event)
    executor.close()
    assert reply is not None and reply.type == types.JOB_FAILED
    failed = payloads.decode(reply.type, reply.data)
    assert isinstance(failed, payloads.JobFailed)
    assert failed.kind == "transient" and failed.work is not None
    assert failed.work.execution.seed == 42


@pytest.mark.skipif(
    bool(confinement.available().missing), reason="this kernel lacks a confinement layer"
)
def test_the_simulation_worker_runs_confined_by_the_kernel_and_still_uses_threads() -> None:
    # 16 qubits: past Aer's threshold for running a statevector on OpenMP threads.
    circuit = quantum_volume(16, 4, seed=3).decompose()
    circuit.measure_all()
    work = Workload(
        circuit=circuit,
        circuit_hash="qv16",
        shots=200,
        seed=9,
        method="statevector",
    )
    isolated = IsolatedRunner()
    try:
        outcome = isolated.run(work, timeout=120)
        assert isolated._process is not None
        pid = isolated._process.pid
        status = Path(f"/proc/{pid}/status").read_text()
        limits = Path(f"/proc/{pid}/limits").read_text()
        group = os.getpgid(pid)
        threads = len(os.listdir(f"/proc/{pid}/task"))  # OpenMP's pool stays after a run
    finally:
        isolated.close()
    assert sum(outcome.points[0].counts.values()) == 200  # type: ignore[union-attr]
    assert "NoNewPrivs:\t1" in status and "Seccomp:\t2" in status
    assert "Seccomp_filters:\t0" not in status
    assert [line.split()[3:5] for line in limits.splitlines() if "Max file size" in line] == [
        ["0", "0"]
    ]
    if (os.cpu_count() or 1) > 1:
        assert threads > 1, "Aer ran without its OpenMP threads"
    assert group == pid  # its own process group, killed whole
    assert isolated.isolation().landlock_abi > 0


def test_where_isolation_is_required_every_job_runs_in_the_confined_worker(
    tmp_path: Path,
) -> None:
    executor = Executor(ResultStore(tmp_path), confined_deadline=120)
    work = validated(bell_circuit())
    try:
        completed = executor.execute(work)
        worker = executor.isolated._process
    finally:
        executor.close()
    assert worker is not None, "no worker process ran the job"
    assert set(completed.counts or {}) == {"00", "11"}
    assert completed.counts == Executor(ResultStore(tmp_path)).execute(work).counts


def test_bytes_that_are_no_qpy_fail_the_job_in_the_worker_not_the_server(tmp_path: Path) -> None:
    executor = Executor(ResultStore(tmp_path), confined_deadline=120)
    forged = msgspec.structs.replace(validated(bell_circuit()), circuit_qpy="bm90IHFweQ==")
    try:
        with pytest.raises(UserError) as refused:
            executor.execute(forged)
        after = executor.execute(validated(bell_circuit()))
    finally:
        executor.close()
    assert refused.value.reason == "InvalidQPY"
    assert refused.value.message.startswith("the QPY data could not be read")
    assert set(after.counts or {}) == {"00", "11"}


def test_a_confined_run_past_the_default_deadline_names_the_setting(tmp_path: Path) -> None:
    executor = Executor(ResultStore(tmp_path), confined_deadline=0.001)
    try:
        with pytest.raises(UserError) as stopped:
            executor.execute(validated(quantum_volume(12, seed=3).measure_all(inplace=False)))
    finally:
        executor.close()
    assert stopped.value.reason == "TimeLimit"
    assert "QOP_SIMULATION_TIMEOUT_SECONDS (0.001 s)" in stopped.value.message


def test_a_new_jobs_event_only_wakes_execute(tmp_path: Path) -> None:
    """knative/triggers.yaml execute-wake-up: a job's creation reaches execute so that its
    cold start overlaps validate's; nothing runs and nothing is written for it."""
    added = resource_event(admit(job_manifest(name="woken", code=BELL_QASM2)), types.APISERVER_ADD)
    executor = Executor(ResultStore(tmp_path))
    try:
        assert executor.handle(added) is None
    finally:
        executor.close()
    assert list(tmp_path.iterdir()) == []
