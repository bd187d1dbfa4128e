"""The validate function's logic: load the circuit safely, measure it, pick the backend.

Input: ApiServerSource add/update events of QiskitJobs, and the HTTP API's
requests (`validation_api`). Reply: `job.validated` with the canonical circuit,
or `job.rejected` with what to change. Reads ConfigMaps for circuit sources;
writes nothing to Kubernetes, ever.
"""

from __future__ import annotations

import base64
import logging
import time

from qiskit_operator.circuits.backends import is_aer
from qiskit_operator.circuits.loading import load_source
from qiskit_operator.circuits.report import CircuitReport, check_circuit
from qiskit_operator.circuits.sandbox import SandboxPool
from qiskit_operator.circuits.sources import CircuitSources
from qiskit_operator.errors import UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import job_from_event, job_ref, job_ref_from_raw
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.models import QiskitJob
from qiskit_operator.models.spec import CircuitFormat
from qiskit_operator.settings import LimitSettings

SOURCE = "/qiskit-operator/validate"
log = logging.getLogger(__name__)


class Validator:
    def __init__(
        self, sandbox: SandboxPool, sources: CircuitSources, limits: LimitSettings
    ) -> None:
        self.sandbox = sandbox
        self.sources = sources
        self.limits = limits

    def ready(self) -> bool:
        return self.sandbox.is_warm

    def close(self) -> None:
        self.sandbox.close()

    def inspect(
        self,
        code: str,
        fmt: CircuitFormat | None = None,
        *,
        variable: str | None = None,
        backend: str | None = None,
        method: str | None = None,
        optimization_level: int = 1,
        shots: int = 1024,
    ) -> CircuitReport:
        """Load and check one circuit source; UserError says what is wrong and where."""
        size = len(code.encode())
        if size > self.limits.max_source_bytes:
            raise UserError(
                f"the circuit source is {size} bytes; the limit is {self.limits.max_source_bytes}",
                reason="SourceTooLarge",
            )
        loaded = load_source(code, fmt, self.sandbox, variable)
        return check_circuit(
            loaded,
            backend=backend,
            method=method,
            optimization_level=optimization_level,
            shots=shots,
            limits=self.limits,
        )

    def handle(self, event: Envelope) -> Envelope | None:
        if event.type not in (types.APISERVER_ADD, types.APISERVER_UPDATE):
            return None
        ref = job_ref_from_raw(event)
        if ref is None:
            log.warning("event %s carries no object with a name; ignored", event.id)
            return None
        try:
            job = job_from_event(event)
        except UserError as error:
            return _rejected(
                event, payloads.JobRejected(job=ref, reason=error.reason, message=error.message)
            )
        if _already_seen(job):
            return None
        try:
            validated = self.validate(job)
        except UserError as error:
            rejected = payloads.JobRejected(
                job=job_ref(job), reason=error.reason, message=error.message, line=error.line
            )
            return _rejected(event, rejected)
        return event.reply(types.JOB_VALIDATED, SOURCE, payloads.encode(validated))

    def validate(self, job: QiskitJob) -> payloads.JobValidated:
        started = time.perf_counter()
        _check_backend(job)
        spec, execution = job.spec.circuit, job.spec.execution
        source = self.sources.read(spec, job.metadata.namespace)
        report = self.inspect(
            source.text,
            spec.format or source.format_hint,
            variable=spec.variable,
            method=job.spec.backend.method,
            optimization_level=execution.optimization_level,
            shots=execution.shots,
        )
        return payloads.JobValidated(
            job=job_ref(job),
            circuit_qpy=base64.b64encode(report.qpy).decode(),
            format=report.format,
            metadata=report.summary,
            backend=job.spec.backend.name or report.backend,
            execution=payloads.ExecutionRequest(
                shots=execution.shots,
                optimization_level=execution.optimization_level,
                seed=execution.seed,
                method=report.plan.method,
                max_execution_time=execution.max_execution_time,
            ),
            estimated_cost="$0.00",
            validation_seconds=time.perf_counter() - started,
        )


def _already_seen(job: QiskitJob) -> bool:
    # Reconcile records the generation it has seen; a later update event (its own
    # status write, for one) must not start a second validation of the same spec.
    observed = job.status.observed_generation if job.status else None
    return observed is not None and observed >= job.generation


def _check_backend(job: QiskitJob) -> None:
    backend = job.spec.backend
    if backend.type != "local_simulator":
        raise UserError(
            f"backend.type {backend.type} is not available in this cluster; "
            "use local_simulator (Qiskit Aer)",
            reason="UnsupportedBackend",
        )
    if not is_aer(backend.name):
        raise UserError(
            f"backend.name {backend.name} is not a simulator; jobs run on Qiskit Aer, so leave "
            "backend.name out (or use aer_simulator)",
            reason="UnsupportedBackend",
        )
    if job.spec.execution.primitive != "sampler":
        raise UserError(
            "execution.primitive estimator is not available yet; use sampler",
            reason="UnsupportedPrimitive",
        )


def _rejected(event: Envelope, payload: payloads.JobRejected) -> Envelope:
    return event.reply(types.JOB_REJECTED, SOURCE, payloads.encode(payload))
