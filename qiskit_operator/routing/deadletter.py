"""What happens to an event no subscriber would take: it fails its job, with the reason.

Knative sends such an event to the Trigger's dead-letter sink; reconcile is that
sink, and this is the event it gets, so a job never hangs without a phase.
"""

from __future__ import annotations

from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import job_ref_from_raw
from qiskit_operator.events.envelope import Envelope

SOURCE = "/qiskit-operator/broker"
SINK = "qiskit-reconcile"  # the dead-letter sink is reconcile itself
# Of the API server's events execute gets a job's creation, to wake up early, and its
# deletion, to clean up after it (knative/triggers.yaml): neither is the job's work.
EXECUTE = "qiskit-execute"


def dead_letter(event: Envelope, trigger: str, subscriber: str, error: str) -> Envelope | None:
    """A `job.failed` for the job `event` is about, or None: when it is about no job,
    when reconcile is the one that could not be reached (a letter to it would fail
    too, and the next event it gets carries the job's state anyway), or when the
    event was no work of the job's (an API server event for execute). `subscriber`
    is a Service's name, or the address Knative names (`knativeerrordest`)."""
    if SINK in subscriber:
        return None
    if event.type in types.APISERVER_TYPES and EXECUTE in subscriber:
        return None
    ref = _job_of(event)
    if ref is None:
        return None
    failed = payloads.JobFailed(
        job=ref,
        reason="DeliveryFailed",
        message=f"the pipeline stopped: {event.type} could not be delivered by {trigger}: {error}",
    )
    return event.reply(types.JOB_FAILED, SOURCE, payloads.encode(failed))


def _job_of(event: Envelope) -> payloads.JobRef | None:
    if event.type in types.APISERVER_TYPES:
        return job_ref_from_raw(event)
    try:
        payload = payloads.decode(event.type, event.data)
    except payloads.PayloadError:
        return None
    return payload.job
