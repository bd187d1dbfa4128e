"""The validate function's logic: load the circuit safely, measure it, pick the backend.

Input: ApiServerSource add/update events of QiskitJobs. Reply: `job.validated`
with the canonical circuit, or `job.rejected` with what to change. Reads no
Kubernetes state yet and writes none, ever.
"""

from __future__ import annotations

import base64
import logging
import time

from qiskit_operator.circuits.loading import load_source, source_text
from qiskit_operator.circuits.sandbox import SandboxPool
from qiskit_operator.circuits.serialization import canonical_qpy
from qiskit_operator.circuits.summary import summarise
from qiskit_operator.errors import UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import job_from_event, job_ref, job_ref_from_raw
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.models import QiskitJob

SOURCE = "/qiskit-operator/validate"
_AER = "aer_simulator"
log = logging.getLogger(__name__)


class Validator:
    def __init__(self, sandbox: SandboxPool) -> None:
        self.sandbox = sandbox

    def ready(self) -> bool:
        return self.sandbox.is_warm

    def close(self) -> None:
        self.sandbox.close()

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
        backend = _backend_for(job)
        spec = job.spec.circuit
        loaded = load_source(source_text(spec), spec.format, self.sandbox, spec.variable)
        qpy_bytes, circuit_hash = canonical_qpy(loaded.circuit)
        execution = job.spec.execution
        return payloads.JobValidated(
            job=job_ref(job),
            circuit_qpy=base64.b64encode(qpy_bytes).decode(),
            format=loaded.format,
            metadata=summarise(loaded.circuit, circuit_hash),
            backend=backend,
            execution=payloads.ExecutionRequest(
                shots=execution.shots,
                optimization_level=execution.optimization_level,
                seed=execution.seed,
                method=job.spec.backend.method,
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


def _backend_for(job: QiskitJob) -> str:
    backend = job.spec.backend
    if backend.type != "local_simulator":
        raise UserError(
            f"backend.type {backend.type} is not available in this cluster; "
            "use local_simulator (Qiskit Aer)",
            reason="UnsupportedBackend",
        )
    if job.spec.execution.primitive != "sampler":
        raise UserError(
            "execution.primitive estimator is not available yet; use sampler",
            reason="UnsupportedPrimitive",
        )
    return backend.name or _AER


def _rejected(event: Envelope, payload: payloads.JobRejected) -> Envelope:
    return event.reply(types.JOB_REJECTED, SOURCE, payloads.encode(payload))
