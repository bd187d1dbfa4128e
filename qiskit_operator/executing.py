"""The execute function's logic: run a validated circuit on Aer, reply with a summary.

Input: `job.validated`. Reply: `job.completed` (top outcomes, expectation values,
sweep points, where the full result is) or `job.failed` (`kind: transient`
carries the work, so reconcile can send it again). Also a job's delete event:
the result files execute wrote for it go with it (docs/retention.md), and its
provider job is cancelled. A hardware job is submitted and answered with
`job.submitted` (`hardware`, docs/hardware-jobs.md); reconcile's
`hardware.poll` makes execute poll the providers. A job's `execution.cancel` (its
spec.cancel) or delete kills its simulation worker, cancels its provider job and
keeps its queued work from starting (docs/budgets.md#cancel). Reads from Kubernetes only a
hardware job's provider token, from the Secret its namespace grants
(docs/credentials.md). While a sweep runs, `job.progressed` events say how many
of its parameter sets are done, through `publish` (not replies: a request has
one), at most one each `progress_interval` seconds.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import pydantic

from qiskit_operator import metrics
from qiskit_operator.budgets import pricing
from qiskit_operator.circuits.declarations import ONE_CIRCUIT, SizeLimits
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import job_ref_from_raw
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.execution import messages
from qiskit_operator.execution.aer import (
    AerRunner,
    Outcome,
    Point,
    bitstring_counts,
    top_counts,
)
from qiskit_operator.execution.isolation import IsolatedRunner, JobCancelledError
from qiskit_operator.execution.progress import ProgressReport, Throttled
from qiskit_operator.hardware.credentials import MemorySecrets, SecretReader
from qiskit_operator.hardware.records import RecordStore
from qiskit_operator.hardware.submitting import REMOTE_FAMILIES, HardwareJobs
from qiskit_operator.models.spec import OutputSpec
from qiskit_operator.providers.fake_remote import FakeRemoteProvider
from qiskit_operator.providers.running import ProviderRunner
from qiskit_operator.results import CONFIGMAP_LIMIT, ResultStore, render
from qiskit_operator.sandbox.confinement import Isolation
from qiskit_operator.settings import LimitSettings
from qiskit_operator.storage import objects
from qiskit_operator.storage.uploading import S3Results

SOURCE = "/qiskit-operator/execute"
TOP_OUTCOMES = 16
MAX_RETRY_WAIT = 60.0
CANCELLED_REMEMBERED = 512
log = logging.getLogger(__name__)
_VERSIONS = {"qiskit": version("qiskit"), "qiskit-aer": version("qiskit-aer")}


class Executor:
    def __init__(
        self,
        store: ResultStore,
        runner: AerRunner | None = None,
        sleep: Any = time.sleep,
        isolated: IsolatedRunner | None = None,
        confined_deadline: float | None = None,
        sizes: SizeLimits = ONE_CIRCUIT,
        noisy_deadline: float = LimitSettings().simulation_timeout_seconds,
        secrets: SecretReader | None = None,
        s3: S3Results | None = None,
        publish: Callable[[Envelope], None] | None = None,
        progress_interval: float = 1.0,
    ) -> None:
        """`confined_deadline` set: every job's QPY is loaded and simulated only in the
        confined worker, stopped after that many seconds unless the job sets its own
        `maxExecutionTime`; None: only jobs with a `maxExecutionTime` go there, and jobs
        with a noise model, stopped after `noisy_deadline`. `secrets`: where provider
        credentials are read (the cluster's Secrets; none by default). `s3`: where
        results of `output.type: s3` go (none by default: such jobs fail saying so).
        `publish`: where progress events go (the Broker; None: nowhere, and sweeps run
        in one call)."""
        self.store = store
        self.s3 = s3
        self.runner = runner or AerRunner()
        self.providers = ProviderRunner(self.runner)
        self.hardware = HardwareJobs(
            RecordStore(store.root),
            {"fake_remote": FakeRemoteProvider(store.root / ".fake-provider")},
            lambda work, outcome: summarise(work, outcome, self._store(work, outcome)),
            sizes,
            secrets or MemorySecrets(),
        )
        self.isolated = isolated or IsolatedRunner()
        self._confined_deadline = confined_deadline
        self._noisy_deadline = noisy_deadline
        self._sleep = sleep
        self._sizes = sizes
        self.publish = publish
        self._progress_interval = progress_interval
        # Jobs cancelled or deleted: uid -> the generation from which on nothing of it
        # runs (work still queued for it is dropped); the latest few hundred.
        self._cancelled: OrderedDict[str, int] = OrderedDict()

    def ready(self) -> bool:
        return True

    def isolation(self) -> Isolation:
        """The kernel's layers the simulation worker runs under (for /health and /ready)."""
        return self.isolated.isolation()

    def close(self) -> None:
        self.isolated.close()

    def handle(self, event: Envelope) -> Envelope | None:
        if event.type == types.APISERVER_DELETE:
            self._forget(event)
            return None
        if event.type == types.APISERVER_ADD:
            return None  # a new job woke execute (or kept it warm) for its work to come
        if event.type == types.EXECUTION_CANCEL:
            try:
                request = payloads.decode_cancel(event.data)
            except payloads.PayloadError as error:
                raise UserError(str(error), reason="InvalidEvent") from error
            self.cancel(request.job)
            return None
        if event.type == types.HARDWARE_POLL:
            changed = self.hardware.poll()
            log.info("polled hardware jobs: %d changed", changed)
            return None
        if event.type != types.JOB_VALIDATED:
            return None
        work = payloads.decode(event.type, event.data)
        assert isinstance(work, payloads.JobValidated)
        if work.job.generation < self._cancelled.get(work.job.uid, 0):
            log.info("%s was cancelled: its queued work is dropped", work.job.key)
            return None
        outcome: payloads.Reply
        try:
            if work.execution.family in REMOTE_FAMILIES:
                outcome = self.hardware.submit(work, _workload_message(work))
            else:
                outcome = self.execute(work, self._reporter(event, work))
        except UserError as error:
            outcome = payloads.JobFailed(job=work.job, reason=error.reason, message=error.message)
        except TransientError as error:
            outcome = payloads.JobFailed(
                job=work.job,
                reason="TransientFailure",
                message=error.message,
                kind="transient",
                work=work,
            )
        outcome_label = (
            "failed"
            if isinstance(outcome, payloads.JobFailed)
            else "submitted"
            if isinstance(outcome, payloads.JobSubmitted)
            else "completed"
        )
        metrics.JOBS.labels("execute", outcome_label).inc()
        # One line per run, in the job's trace: `kubectl qiskit logs JOB` finds it.
        log.info("%s %s", work.job.key, outcome_label)
        return event.reply(payloads.TYPE_OF[type(outcome)], SOURCE, payloads.encode(outcome))

    def cancel(self, job: payloads.JobRef, deleted: bool = False) -> None:
        """Stop whatever runs for `job`: its simulation is killed, its provider job
        cancelled, and work of its earlier generations still to come is dropped."""
        self._cancelled[job.uid] = sys.maxsize if deleted else job.generation
        self._cancelled.move_to_end(job.uid)
        while len(self._cancelled) > CANCELLED_REMEMBERED:
            self._cancelled.popitem(last=False)
        if self.isolated.cancel(job.uid):
            log.info("%s cancelled: its simulation was stopped", job.key)
        stopped = self.hardware.cancel(job.namespace, job.uid)
        if stopped:
            log.info("%s cancelled: cancelled %d provider jobs", job.key, stopped)

    def _forget(self, event: Envelope) -> None:
        """The job is deleted: stop what runs for it and remove the result files written
        for it (this uid)."""
        ref = job_ref_from_raw(event)
        if ref is None or not ref.uid:
            return
        self.cancel(ref, deleted=True)
        try:
            removed = self.store.remove_job(ref, _output_of(event))
        except UserError as error:  # an output.path the API server would have refused
            log.warning("result files of %s not removed: %s", ref.key, error.message)
            return
        log.info("%s deleted: removed %d result files", ref.key, removed)

    def _reporter(self, event: Envelope, work: payloads.JobValidated) -> ProgressReport | None:
        """How this run's progress becomes `job.progressed` events, in the job's trace."""
        publish = self.publish
        if publish is None or len(work.execution.parameter_values) < 2:
            return None

        def report(done: int, total: int) -> None:
            progressed = payloads.JobProgressed(
                job=work.job, done=done, total=total, attempt=work.execution.attempt
            )
            publish(event.reply(types.JOB_PROGRESSED, SOURCE, payloads.encode(progressed)))

        return Throttled(report, self._progress_interval)

    def execute(
        self, work: payloads.JobValidated, progress: ProgressReport | None = None
    ) -> payloads.JobCompleted:
        request = work.execution
        if request.not_before is not None:  # a retry waits out its backoff
            self._sleep(min(max(0.0, request.not_before - time.time()), MAX_RETRY_WAIT))
            if work.job.generation < self._cancelled.get(work.job.uid, 0):
                raise JobCancelledError()  # while it waited
        message = _workload_message(work)
        with metrics.EXECUTION_SECONDS.labels(message.primitive).time():
            result = self._run(message, request.max_execution_seconds, work.job.uid, progress)
        location = self._store(work, result)
        return summarise(work, result, location)

    def _run(
        self,
        message: messages.WorkloadMessage,
        job_limit: float | None,
        job: str,
        progress: ProgressReport | None = None,
    ) -> Outcome:
        """In the confined worker, which alone then loads the QPY, when the job sets a time
        limit, isolation is required, or the job has a noise model or runs on a device
        snapshot (building a device's noise takes up to minutes, and only a process can
        be stopped); else here, for `qop run` on one's own machine."""
        if job_limit is not None:
            return self.isolated.run_message(message, job_limit, job=job, progress=progress)
        deadline = self._confined_deadline
        if deadline is None and (message.noise_model is not None or message.family != "aer"):
            deadline = self._noisy_deadline
        if deadline is not None:
            return self.isolated.run_message(
                message,
                deadline,
                limit="QOP_SIMULATION_TIMEOUT_SECONDS",
                job=job,
                progress=progress,
            )
        return self.providers.run(messages.workload_of(message, self._sizes), progress)

    def _store(self, work: payloads.JobValidated, result: Outcome) -> str | None:
        output = work.execution.output
        if output is None:
            return None
        document = render(full_result(work, result), output.format)
        if output.type == "configmap" and len(document) > CONFIGMAP_LIMIT:
            raise UserError(
                f"the full result is {len(document) // 1024} KiB but a ConfigMap holds at most "
                f"{CONFIGMAP_LIMIT // 1024} KiB; use output.type: pvc, or fewer shots or "
                "sweep points",
                reason="ResultTooLarge",
            )
        if output.type == "s3":
            if self.s3 is None:
                raise UserError(
                    "output.type s3 is not available here; use configmap or pvc",
                    reason="OutputRefused",
                )
            return self.s3.put(work.job, output, document)
        return self.store.put(work.job, output, document)


def _output_of(event: Envelope) -> payloads.OutputRequest | None:
    """spec.output of the object a delete event carries, read leniently: the job may
    never have validated."""
    try:
        output = OutputSpec.model_validate(json.loads(event.data)["spec"]["output"])
    except (ValueError, KeyError, TypeError, RecursionError, pydantic.ValidationError):
        return None
    return objects.requested(output)


def _reproducibility(work: payloads.JobValidated, result: Outcome) -> payloads.Reproducibility:
    return payloads.Reproducibility(
        qiskit_version=_VERSIONS["qiskit"],
        qiskit_aer_version=_VERSIONS["qiskit-aer"],
        seed=result.seed,
        method=result.method,
        transpiled_depth=result.transpiled_depth,
        noise_model=work.execution.noise_model,
    )


def _workload_message(work: payloads.JobValidated) -> messages.WorkloadMessage:
    request = work.execution
    return messages.WorkloadMessage(
        qpy=base64.b64decode(work.circuit_qpy),
        circuit_hash=work.metadata.hash,
        shots=request.shots,
        seed=request.seed,
        method=request.method,
        optimization_level=request.optimization_level,
        primitive="estimator" if request.primitive == "estimator" else "sampler",
        observables=list(request.observables),
        parameter_values=[list(row) for row in request.parameter_values],
        precision=request.precision,
        noise_model=request.noise_model,
        family=request.family,
        device=request.device,
        session=request.session,
        session_mode=request.session_mode,
    )


def summarise(
    work: payloads.JobValidated, result: Outcome, location: str | None
) -> payloads.JobCompleted:
    request = work.execution
    first = result.points[0]
    swept = bool(request.parameter_values)
    sizes = result.register_sizes
    sweep = (
        [
            payloads.SweepPoint(
                parameters=list(p.parameters),
                counts=None if p.counts is None else top_counts(p.counts, sizes, TOP_OUTCOMES),
                expectation_values=p.expectation_values,
                standard_errors=p.standard_errors,
            )
            for p in result.points
        ]
        if swept
        else None
    )
    return payloads.JobCompleted(
        job=work.job,
        primitive=request.primitive,
        counts=None
        if swept or first.counts is None
        else top_counts(first.counts, sizes, TOP_OUTCOMES),
        outcomes=0 if swept or first.counts is None else len(first.counts),
        expectation_values=None if swept else first.expectation_values,
        standard_errors=None if swept else first.standard_errors,
        sweep=sweep,
        shots=request.shots,
        backend=work.backend,
        method=result.method,
        seed=result.seed,
        transpiled=result.transpiled,
        transpile_seconds=result.transpile_seconds,
        execution_seconds=result.execution_seconds,
        location=location,
        output=request.output,
        reproducibility=_reproducibility(work, result),
        # What the backend was used for: the simulation's (or the provider's) run time.
        actual_cost=pricing.actual(request, result.transpile_seconds + result.execution_seconds),
    )


def full_result(work: payloads.JobValidated, result: Outcome) -> dict[str, Any]:
    request = work.execution
    return {
        "job": {
            "namespace": work.job.namespace,
            "name": work.job.name,
            "uid": work.job.uid,
            "generation": work.job.generation,
        },
        "primitive": request.primitive,
        "shots": request.shots,
        "registers": result.registers,
        "observables": request.observables,
        "points": [_point(p, result.register_sizes) for p in result.points],
        "circuit": {
            "hash": work.metadata.hash,
            "qubits": work.metadata.qubits,
            "depth": work.metadata.depth,
            "transpiled": result.transpiled,
        },
        "reproducibility": {
            "qiskit": _VERSIONS["qiskit"],
            "qiskit_aer": _VERSIONS["qiskit-aer"],
            "seed": result.seed,
            "method": result.method,
            "transpiled_depth": result.transpiled_depth,
            "noise_model": request.noise_model,
            "optimization_level": request.optimization_level,
        },
        "timings": {
            "transpile_seconds": result.transpile_seconds,
            "execution_seconds": result.execution_seconds,
        },
    }


def _point(point: Point, register_sizes: list[int]) -> dict[str, Any]:
    data: dict[str, Any] = {"parameters": list(point.parameters)}
    if point.counts is not None:
        data["counts"] = dict(sorted(bitstring_counts(point.counts, register_sizes).items()))
    if point.expectation_values is not None:
        data["expectation_values"] = point.expectation_values
        data["standard_errors"] = point.standard_errors
    return data
