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
# A hardware job is in its provider's queue (docs/hardware-jobs.md): execute's answer.
JOB_SUBMITTED: Final = _PREFIX + "submitted"
# validate -> reconcile: the job waits for its turn in its QiskitSession (sessions/).
JOB_HELD: Final = _PREFIX + "held"
# Reconcile's answer to the ping while hardware jobs are outstanding: execute polls
# their providers. Not under the job prefix: it is about no one job.
HARDWARE_POLL: Final = "io.qiskit.operator.hardware.poll"

# Extension attributes our events carry (CloudEvents names: lowercase alphanumerics).
EXT_JOB_UID: Final = "jobuid"
EXT_GENERATION: Final = "generation"
EXT_TRACEPARENT: Final = "traceparent"
