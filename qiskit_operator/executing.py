"""The execute function's logic: run a validated circuit on Aer, reply with counts.

Input: `job.validated`. Reply: `job.completed` or `job.failed`. Needs no
Kubernetes access at all.
"""

from __future__ import annotations

import base64
import logging

from qiskit_operator.circuits.serialization import from_qpy
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.execution.aer import AerRunner

SOURCE = "/qiskit-operator/execute"
log = logging.getLogger(__name__)


class Executor:
    def __init__(self, runner: AerRunner | None = None) -> None:
        self.runner = runner or AerRunner()

    def ready(self) -> bool:
        return True

    def handle(self, event: Envelope) -> Envelope | None:
        if event.type != types.JOB_VALIDATED:
            return None
        work = payloads.decode(event.type, event.data)
        assert isinstance(work, payloads.JobValidated)
        try:
            outcome: payloads.Reply = self.execute(work)
        except UserError as error:
            outcome = payloads.JobFailed(job=work.job, reason=error.reason, message=error.message)
        except TransientError:
            raise  # the HTTP layer answers 503 and the broker retries
        reply_type = payloads.TYPE_OF[type(outcome)]
        return event.reply(reply_type, SOURCE, payloads.encode(outcome))

    def execute(self, work: payloads.JobValidated) -> payloads.JobCompleted:
        circuits = from_qpy(base64.b64decode(work.circuit_qpy))
        if not circuits:
            raise UserError("the validated event holds no circuit", reason="NoCircuit")
        request = work.execution
        result = self.runner.run(
            circuits[0],
            work.metadata.hash,
            shots=request.shots,
            optimization_level=request.optimization_level,
            seed=request.seed,
            method=request.method,
        )
        return payloads.JobCompleted(
            job=work.job,
            counts=result.counts,
            shots=request.shots,
            backend=work.backend,
            method=result.method,
            seed=request.seed,
            transpiled=result.transpiled,
            transpile_seconds=result.transpile_seconds,
            execution_seconds=result.execution_seconds,
        )
