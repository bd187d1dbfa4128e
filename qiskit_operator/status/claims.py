"""Events are claims, not facts: what reconcile checks before it writes anything.

A reply of validate or execute says "job X, uid U, generation G moved on".
Reconcile reads the job as the API server has it now and `judge`s the claim
against it before any write (status, result ConfigMap, Event), so no forged,
stale or confused event can wedge, rewrite or delete anything (DESIGN.md §3):

- the uid is required and must be the object's;
- the generation must be the object's `metadata.generation`: an older one is
  ignored (the spec changed since), a newer one is refused (it cannot exist);
- the phase change must be one the state machine allows for that event type;
- a completion must point at exactly the result file this job, uid and
  generation expect now (`ResultStore.location_for`), never at a path it names.

Pure and free of I/O: the decision half of reconcile (`decide(job, event)`), unit
tested on its own. Who sent the event is the authentication layer's question,
not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from qiskit_operator.events import payloads
from qiskit_operator.models.phases import Phase
from qiskit_operator.status.writer import JobNow


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    IGNORED = "ignored"  # late or duplicated: normal, changes nothing
    REFUSED = "refused"  # cannot be true of the job as it is: changes nothing, said loudly


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    why: str = ""
    reason: str = ""  # a fixed word for logs and metrics (metrics.CLAIM_REFUSALS, CLAIM_IGNORES)

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.ACCEPTED


ACCEPTED = Judgement(Verdict.ACCEPTED, reason="ok")
_VALIDATED = (Phase.SCHEDULED, Phase.RETRYING)


def _ignore(reason: str, why: str) -> Judgement:
    return Judgement(Verdict.IGNORED, why, reason)


def _refuse(reason: str, why: str) -> Judgement:
    return Judgement(Verdict.REFUSED, why, reason)


def judge(job: JobNow | None, claim: payloads.Reply, expected_location: str | None) -> Judgement:
    """Whether reconcile may act on `claim` for `job` (None: there is no such job).

    `expected_location` is where this job's full result is now expected
    (`ResultStore.location_for` of its ref and spec.output), None when it asks for none.
    """
    ref = claim.job
    if not ref.uid:
        return _refuse("uid_missing", f"the event about {ref.key} names no job uid")
    if job is None:
        return _ignore("gone", f"there is no job {ref.key} (deleted, or never created)")
    if ref.uid != job.ref.uid:
        return _refuse(
            "uid_mismatch",
            f"the event names uid {ref.uid}, but job {ref.key} has uid {job.ref.uid}: "
            "it is about another object of that name",
        )
    if ref.generation < job.ref.generation:
        return _ignore(
            "stale",
            f"the event is about generation {ref.generation} of {ref.key}, which is now at "
            f"generation {job.ref.generation}",
        )
    if ref.generation > job.ref.generation:
        return _refuse(
            "generation_newer",
            f"the event claims generation {ref.generation} of {ref.key}, but the job is at "
            f"generation {job.ref.generation}",
        )
    moved = _phase_change(_phase_now(job), claim)
    if not moved.accepted:
        return moved
    if isinstance(claim, payloads.JobCompleted) and claim.location != expected_location:
        return _refuse(
            "results",
            f"the event points at results {claim.location or '(none)'}, but {ref.key} "
            f"expects its results at {expected_location or '(none)'}",
        )
    return ACCEPTED


def _phase_now(job: JobNow) -> Phase | None:
    """The phase of the job's current generation: None while only an older one was seen."""
    status = job.status
    if status is None or status.observed_generation != job.ref.generation:
        return None
    return status.phase


def _phase_change(phase: Phase | None, claim: payloads.Reply) -> Judgement:
    """Whether the state machine allows what `claim` says happened, from `phase`."""
    kind = type(claim).__name__
    if isinstance(claim, payloads.JobFinished):
        return _ignore("own", "job.finished is reconcile's own announcement")
    if isinstance(claim, payloads.JobValidated):
        # The Broker delivers `validated` to execute and reconcile at once, so execute's
        # reply may come first: the transition then adds what is missing (the circuit's
        # metadata) without moving the phase back, and a duplicate changes nothing.
        return ACCEPTED
    if phase is not None and phase.is_terminal:
        return _ignore("finished", f"{kind} arrived after the job ended {phase.value}")
    if isinstance(claim, payloads.JobRejected) and phase in _VALIDATED:
        assert phase is not None
        return _refuse(
            "phase",
            f"the job was validated and is {phase.value}; a rejection of the same "
            "generation cannot follow",
        )
    # Completed and failed may come before reconcile has seen `validated`, for the same
    # reason.
    return ACCEPTED
