"""CloudEvent `type` values the system produces and consumes."""

from __future__ import annotations

from typing import Final

APISERVER_ADD: Final = "dev.knative.apiserver.resource.add"
APISERVER_UPDATE: Final = "dev.knative.apiserver.resource.update"
APISERVER_DELETE: Final = "dev.knative.apiserver.resource.delete"
APISERVER_TYPES: Final = frozenset({APISERVER_ADD, APISERVER_UPDATE, APISERVER_DELETE})

# Knative's PingSource, on a schedule (knative/pingsource.yaml): reconcile looks for
# jobs whose current generation no event ever announced (`Reconciler.resync`).
PING: Final = "dev.knative.sources.ping"

_PREFIX: Final = "io.qiskit.operator.job."
JOB_VALIDATED: Final = _PREFIX + "validated"
JOB_REJECTED: Final = _PREFIX + "rejected"
JOB_COMPLETED: Final = _PREFIX + "completed"
JOB_FAILED: Final = _PREFIX + "failed"
JOB_FINISHED: Final = _PREFIX + "finished"
# A validated job whose QiskitBudget must admit it: validate's answer, for reconcile
# alone, which reserves its estimate and answers job.validated (docs/budgets.md).
JOB_BUDGETED: Final = _PREFIX + "budgeted"
# A hardware job is in its provider's queue (docs/hardware-jobs.md): execute's answer.
JOB_SUBMITTED: Final = _PREFIX + "submitted"
# validate -> reconcile: the job waits for its turn in its QiskitSession (sessions/).
JOB_HELD: Final = _PREFIX + "held"
# How much of a sweep is done, sent by execute while it runs (not a reply: it goes to
# the Broker on its own, at most one a second); reconcile writes status.progress.
JOB_PROGRESSED: Final = _PREFIX + "progressed"
# Reconcile's answer to the ping while hardware jobs are outstanding: execute polls
# their providers. Not under the job prefix: it is about no one job.
HARDWARE_POLL: Final = "io.qiskit.operator.hardware.poll"
# A job's spec.cancel was set: reconcile ended it Cancelled and tells execute, which
# kills its simulation and cancels its provider job. Not under the job prefix: it is
# for execute alone (knative/triggers.yaml).
EXECUTION_CANCEL: Final = "io.qiskit.operator.execution.cancel"

# Extension attributes our events carry (CloudEvents names: lowercase alphanumerics).
EXT_JOB_UID: Final = "jobuid"
EXT_GENERATION: Final = "generation"
EXT_TRACEPARENT: Final = "traceparent"
