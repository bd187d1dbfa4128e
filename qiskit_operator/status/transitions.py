"""How each event changes a job's status: pure functions, the heart of idempotency.

Each takes the current status and returns the new one, or None when the event
changes nothing: a duplicate, a stale generation, or a phase that would go
backwards. The same event twice, or events out of order, therefore never
corrupt a job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec

from qiskit_operator.events import payloads
from qiskit_operator.models.money import Money
from qiskit_operator.models.phases import REMOTE, Phase, may_move
from qiskit_operator.models.status import (
    REQUEUED,
    CircuitMetadata,
    JobStatus,
    Metrics,
    Reproducibility,
    Results,
    SweepEntry,
)
from qiskit_operator.status.conditions import set_condition

VALIDATED = "Validated"
COMPLETED = "Completed"
BACKEND_SELECTED = "BackendSelected"


def _generation_state(current: JobStatus | None, generation: int) -> str:
    observed = current.observed_generation if current else None
    if observed is None or generation > observed:
        return "newer"
    if generation < observed:
        return "stale"
    return "same"


def _base(current: JobStatus | None, generation: int) -> JobStatus | None:
    """The status to build on, or None when the event is about an older spec."""
    state = _generation_state(current, generation)
    if state == "stale":
        return None
    if state == "newer" or current is None:
        return JobStatus(observed_generation=generation)
    return current.model_copy(deep=True)


def seen(current: JobStatus | None, generation: int, now: datetime) -> JobStatus | None:
    """The job was created or changed: a new generation starts validating."""
    if _generation_state(current, generation) != "newer":
        return None
    return JobStatus(
        phase=Phase.VALIDATING,
        observed_generation=generation,
        message="Validating the circuit",
        start_time=now,
    )


def asked_again(current: JobStatus | None, generation: int, now: datetime) -> JobStatus | None:
    """No event about this generation reached reconcile (the job was created or changed
    while the event source was down): say so. The write is itself a change the source
    sends, which validate and reconcile take up as the lost one. observedGeneration is
    left alone, so the generation still reads as new; the time makes each ask a change.
    None once the generation has been seen."""
    if _generation_state(current, generation) != "newer":
        return None
    status = current.model_copy(deep=True) if current is not None else JobStatus()
    if current is None or current.phase is None:
        status.phase = Phase.PENDING
    stamp = now.isoformat().replace("+00:00", "Z")
    status.message = (
        f"No event about generation {generation} reached the operator; asked again at {stamp}"
    )
    return status


def stalled(
    current: JobStatus | None, job: payloads.JobRef, now: datetime, after: timedelta
) -> JobStatus | None:
    """The job's generation was seen, is not finished, and nothing has moved it for
    `after`, longer than any delivery with its retries can take: the event carrying
    its next step was lost (a channel that kept events in memory restarted). Fail it
    saying so, rather than leave it waiting forever. None while it is alive."""
    if current is None or current.phase is None or current.phase.is_terminal:
        return None
    if current.phase in REMOTE:
        return None  # a provider holds it: the ping observes it (docs/hardware-jobs.md)
    if _generation_state(current, job.generation) != "same":
        return None  # not seen yet: the resync asks for it instead
    last = _last_move(current, with_requeues=False)
    if last is None or now - last < after:
        return None
    since = last.isoformat().replace("+00:00", "Z")
    message = (
        f"Stalled in {current.phase.value}: nothing has moved this job since {since}, so an "
        "event about it was lost. Change its spec, or apply it again under a new name, "
        "to run it again."
    )
    return _fail(current, job, "Stalled", message, now, (COMPLETED,))


LEASED = (Phase.VALIDATING, Phase.SCHEDULED, Phase.RETRYING)


def requeued(
    current: JobStatus | None, job: payloads.JobRef, now: datetime, lease: timedelta
) -> JobStatus | None:
    """The generation's run is under way (Validating, Scheduled or Retrying) and nothing
    has answered for `lease`: an event of it was lost, whatever step lost it (validate's
    answer, execute's, or the retry reconcile sent). Ask for the run again: the
    `Requeued` condition makes validate validate this generation once more, and its
    answer goes to execute as a new attempt under the retry count the status holds.
    None while the run is within its lease."""
    if current is None or current.phase not in LEASED:
        return None
    if _generation_state(current, job.generation) != "same":
        return None
    last = _last_move(current, with_requeues=True)
    if last is None or now - last < lease:
        return None
    status = current.model_copy(deep=True)
    stamp = now.isoformat().replace("+00:00", "Z")
    status.message = (
        f"No answer about generation {job.generation} in {current.phase.value} since "
        f"{last.isoformat().replace('+00:00', 'Z')}; asked for it again at {stamp}"
    )
    status.conditions = set_condition(
        [c for c in status.conditions if c.type != REQUEUED],
        type_=REQUEUED,
        status="True",
        reason="LeaseExpired",
        message=status.message,
        generation=job.generation,
        now=now,
    )
    return status


def _last_move(status: JobStatus, *, with_requeues: bool) -> datetime | None:
    """When anything last moved this run. The resync's own asks count for the lease (one
    ask a lease) but not for the stall: asking is not progress."""
    moved = [t for t in (status.start_time, status.next_retry_at) if t is not None]
    moved += [
        c.last_transition_time for c in status.conditions if with_requeues or c.type != REQUEUED
    ]
    return max(moved) if moved else None


def _answered(status: JobStatus, generation: int, now: datetime) -> None:
    """An answer came: the resync's ask for the run, if any, is settled."""
    if status.requeued_for(generation):
        status.conditions = set_condition(
            status.conditions,
            type_=REQUEUED,
            status="False",
            reason="Answered",
            message="",
            generation=generation,
            now=now,
        )


def validated(
    current: JobStatus | None, event: payloads.JobValidated, now: datetime
) -> JobStatus | None:
    status = _base(current, event.job.generation)
    if status is None:
        return None
    asked = status.requeued_for(event.job.generation)
    if status.circuit_metadata is not None and not may_move(status.phase, Phase.SCHEDULED):
        if not asked:
            return None  # duplicate, or the job already moved on
        _answered(status, event.job.generation, now)
        return status
    status.circuit_metadata = CircuitMetadata(
        hash=event.metadata.hash,
        depth=event.metadata.depth,
        qubits=event.metadata.qubits,
        clbits=event.metadata.clbits,
        gates=event.metadata.size,
        gate_types=event.metadata.gate_types,
        transpiled_for=event.transpiled.device if event.transpiled else None,
        transpiled_depth=event.transpiled.depth if event.transpiled else None,
        transpiled_two_qubit_gates=event.transpiled.two_qubit_gates if event.transpiled else None,
    )
    status.selected_backend = event.backend
    status.estimated_cost = _money(event.estimated_cost)
    status.start_time = status.start_time or now
    status.metrics = (status.metrics or Metrics()).model_copy(
        update={"validation_seconds": round(event.validation_seconds, 6)}
    )
    status.conditions = set_condition(
        status.conditions,
        type_=VALIDATED,
        status="True",
        reason="CircuitValid",
        message=f"{event.metadata.qubits} qubits, depth {event.metadata.depth}",
        generation=event.job.generation,
        now=now,
    )
    choice = event.selection
    if choice is not None:
        status.original_backend = choice.original
        status.fallback_used = choice.fallback_used
        status.conditions = set_condition(
            status.conditions,
            type_=BACKEND_SELECTED,
            status="True",
            reason=choice.reason,
            message=choice.message,
            generation=event.job.generation,
            now=now,
        )
    _answered(status, event.job.generation, now)
    if may_move(status.phase, Phase.SCHEDULED):
        status.phase = Phase.SCHEDULED
        status.message = f"Scheduled on {event.backend}"
        status.progress = progress(len(event.execution.parameter_values), finished=False)
    return status


def progress(parameter_sets: int, *, finished: bool) -> str:
    """status.progress: parameter sets of a sweep, else the one circuit: none done once
    Scheduled, all once Completed, and between them what `progressed` writes."""
    total, unit = (parameter_sets, "parameter sets") if parameter_sets else (1, "circuits")
    return f"{total if finished else 0}/{total} {unit}"


_COUNTED = re.compile(r"(\d+)/(\d+) ")
RUNNING_HERE = (Phase.SCHEDULED, Phase.RETRYING)
"""The phases in which execute runs a job itself, and so may report its progress."""


def _counted(text: str | None) -> tuple[int, int] | None:
    """(done, total) of a status.progress, None when it has none."""
    found = _COUNTED.match(text or "")
    return None if found is None else (int(found[1]), int(found[2]))


def progressed(current: JobStatus | None, event: payloads.JobProgressed) -> JobStatus | None:
    """Execute's count of the sets its run has done: status.progress moves up to it.

    None, and nothing written, unless the job runs here (Scheduled, or Retrying) in the
    event's generation and attempt, and the count is higher than the one shown, of the
    same total: so a late, repeated or reordered count never moves progress back, and
    none touches a finished job or another attempt's run."""
    if current is None or current.phase not in RUNNING_HERE:
        return None
    if _generation_state(current, event.job.generation) != "same":
        return None
    if (current.retry_count or 0) != event.attempt or event.done > event.total:
        return None
    shown = _counted(current.progress)
    if shown is not None and (event.total != shown[1] or event.done <= shown[0]):
        return None
    status = current.model_copy(deep=True)
    status.progress = f"{event.done}/{event.total} {event.unit}"
    return status


def submitted(
    current: JobStatus | None, event: payloads.JobSubmitted, now: datetime
) -> JobStatus | None:
    """A hardware job is in its provider's queue: Queued, with the provider's job id."""
    status = _base(current, event.job.generation)
    if status is None or not may_move(status.phase, Phase.QUEUED):
        return None
    if status.phase is Phase.QUEUED and status.job_id == event.job_id:
        return None  # the same submission answered again
    _answered(status, event.job.generation, now)
    status.phase = Phase.QUEUED
    status.job_id = event.job_id
    status.queue_position = event.queue_position
    status.estimated_start_time = _moment(event.estimated_start)
    status.selected_backend = status.selected_backend or event.backend
    status.next_retry_at = None
    status.message = f"Queued on {event.backend} as job {event.job_id}"
    return status


def remote_progress(
    current: JobStatus | None,
    job: payloads.JobRef,
    state: str,
    queue_position: int | None,
    estimated_start: float | None,
) -> JobStatus | None:
    """What the ping found of a hardware job still queued or running; None if nothing new."""
    status = _base(current, job.generation)
    target = Phase.RUNNING if state == "running" else Phase.QUEUED
    if status is None or status.phase not in (Phase.QUEUED, Phase.RUNNING):
        return None
    if not may_move(status.phase, target):
        return None
    start = _moment(estimated_start)
    if (status.phase, status.queue_position, status.estimated_start_time) == (
        target,
        queue_position,
        start,
    ):
        return None
    status.phase = target
    status.queue_position = queue_position if target is Phase.QUEUED else None
    status.estimated_start_time = start if target is Phase.QUEUED else status.estimated_start_time
    where = status.selected_backend or "its backend"
    status.message = (
        f"Running on {where} as job {status.job_id}"
        if target is Phase.RUNNING
        else f"Queued on {where} as job {status.job_id}"
        + (f", {queue_position} ahead" if queue_position is not None else "")
    )
    return status


def cancelled(
    current: JobStatus | None, job: payloads.JobRef, message: str, now: datetime
) -> JobStatus | None:
    """The provider job was cancelled while the QiskitJob still exists."""
    status = _base(current, job.generation)
    if status is None or not may_move(status.phase, Phase.CANCELLED):
        return None
    status.phase = Phase.CANCELLED
    status.message = message
    status.completion_time = now
    return status


def cancel_requested(current: JobStatus | None, generation: int, now: datetime) -> JobStatus | None:
    """spec.cancel is true in `generation`: the job ends Cancelled, keeping what an
    earlier generation left (its results, its metadata); a job that had already finished
    keeps its phase and only notes the generation. None once this generation is noted."""
    if _generation_state(current, generation) != "newer":
        return None
    status = current.model_copy(deep=True) if current is not None else JobStatus()
    status.observed_generation = generation
    status.next_retry_at = None
    status.queue_position = None
    if status.phase is not None and status.phase.is_terminal:
        return status
    was = f" in {status.phase.value}" if status.phase is not None else ""
    status.phase = Phase.CANCELLED
    status.message = (
        f"Cancelled{was}: spec.cancel is true; set it to false (or remove it) to run the job again"
    )
    status.completion_time = now
    return status


def _money(cost: payloads.Cost | None) -> Money | None:
    return None if cost is None else Money(amount=cost.amount, currency="USD")


def _moment(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(int(epoch), UTC)


def rejected(
    current: JobStatus | None, event: payloads.JobRejected, now: datetime
) -> JobStatus | None:
    return _fail(current, event.job, event.reason, event.message, now, (VALIDATED, COMPLETED))


def completed(
    current: JobStatus | None, event: payloads.JobCompleted, now: datetime
) -> JobStatus | None:
    status = _base(current, event.job.generation)
    if status is None or not may_move(status.phase, Phase.COMPLETED):
        return None
    status.phase = Phase.COMPLETED
    what = "estimated" if event.primitive == "estimator" else f"{event.shots} shots"
    points = f", {len(event.sweep)} parameter bindings" if event.sweep else ""
    status.message = f"Completed: {what}{points} on {event.backend}"
    status.completion_time = now
    status.selected_backend = status.selected_backend or event.backend
    status.next_retry_at = None
    status.progress = progress(len(event.sweep or []), finished=True)
    status.results = Results(
        counts=event.counts,
        outcomes=event.outcomes or None,
        expectation_values=event.expectation_values,
        standard_errors=event.standard_errors,
        sweep=[
            SweepEntry(
                parameters=point.parameters,
                counts=point.counts,
                expectation_values=point.expectation_values,
            )
            for point in event.sweep
        ]
        if event.sweep is not None
        else None,
        shots=event.shots,
        execution_time=f"{event.execution_seconds:.6f}s",
        location=event.location,
        reproducibility=Reproducibility(**msgspec.structs.asdict(event.reproducibility))
        if event.reproducibility is not None
        else None,
    )
    status.actual_cost = _money(event.actual_cost) or Money(amount=0.0)
    status.metrics = (status.metrics or Metrics()).model_copy(
        update={
            "transpile_seconds": round(event.transpile_seconds, 6),
            "execution_seconds": round(event.execution_seconds, 6),
            "method": event.method,
            "transpiled": event.transpiled,
        }
    )
    if status.start_time is not None:
        status.metrics.total_seconds = round((now - status.start_time).total_seconds(), 6)
    status.conditions = set_condition(
        status.conditions,
        type_=COMPLETED,
        status="True",
        reason="Succeeded",
        message=status.message,
        generation=event.job.generation,
        now=now,
    )
    return status


def failed(current: JobStatus | None, event: payloads.JobFailed, now: datetime) -> JobStatus | None:
    return _fail(current, event.job, event.reason, event.message, now, (COMPLETED,))


def retrying(
    current: JobStatus | None,
    event: payloads.JobFailed,
    now: datetime,
    max_retries: int,
    wait: Callable[[int], float],
) -> JobStatus | None:
    """A transient failure of the latest attempt: count it and wait `wait(retry)` seconds
    for the next one, or fail the job once `max_retries` retries were spent.

    The count lives in the status, so the cap and the backoff hold across restarts of
    reconcile. A failure of an earlier attempt, or the same failure delivered twice,
    changes nothing here (`retry_to_resend` says whether it must be sent again).
    """
    status = _base(current, event.job.generation)
    if status is None or not may_move(status.phase, Phase.RETRYING):
        return None
    spent = status.retry_count or 0
    if event.work is None or spent >= max_retries:
        message = f"{event.message} (gave up after {spent} retries)"
        return _fail(current, event.job, event.reason, message, now, (COMPLETED,))
    if event.work.execution.attempt != spent:
        return None
    _answered(status, event.job.generation, now)
    status.phase = Phase.RETRYING
    status.retry_count = spent + 1
    counted = _counted(status.progress)
    if status.progress is not None and counted is not None:  # the next attempt: none done
        status.progress = status.progress.replace(f"{counted[0]}/", "0/", 1)
    status.next_retry_at = now + timedelta(seconds=wait(spent + 1))
    status.message = f"Retry {status.retry_count} after a transient failure: {event.message}"
    return status


def retry_to_resend(current: JobStatus | None, event: payloads.JobFailed) -> bool:
    """Whether `event` is the failure whose retry the status already records: Retrying,
    of this generation, counted from this very attempt. Its retry must be sent (again):
    whatever failed after the Retrying write (the Event, the reply's delivery), the
    redelivered failure is the only thing left that can send it."""
    return (
        current is not None
        and event.work is not None
        and current.phase is Phase.RETRYING
        and current.observed_generation == event.job.generation
        and current.retry_count is not None
        and event.work.execution.attempt == current.retry_count - 1
        and current.next_retry_at is not None
    )


def _fail(
    current: JobStatus | None,
    job: payloads.JobRef,
    reason: str,
    message: str,
    now: datetime,
    condition_types: tuple[str, ...],
) -> JobStatus | None:
    status = _base(current, job.generation)
    if status is None or not may_move(status.phase, Phase.FAILED):
        return None
    status.phase = Phase.FAILED
    status.message = message
    status.completion_time = now
    for type_ in condition_types:
        status.conditions = set_condition(
            status.conditions,
            type_=type_,
            status="False",
            reason=reason,
            message=message,
            generation=job.generation,
            now=now,
        )
    return status
