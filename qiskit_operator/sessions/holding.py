"""Validate's side of a QiskitSession: a job runs only in its turn, on the session's backend.

Called by `validating` for a job with `spec.session.name`. The session must
exist and be open. Until reconcile has given the job its turn (the job's
`SessionAdmitted` condition for its generation, or its name among the
session's running jobs), validate answers `job.held` instead of validating:
reconcile puts it in the session's queue. In its turn, the job is validated
as if its spec.backend were the session's, which pins every job of the session
to one backend configuration.
"""

from __future__ import annotations

import msgspec

from qiskit_operator.errors import UserError
from qiskit_operator.events.payloads import JobRef
from qiskit_operator.models import Phase, QiskitJob
from qiskit_operator.models.spec import SessionSpec
from qiskit_operator.sessions.store import SessionStore, admitted


class JobHeld(msgspec.Struct, frozen=True, kw_only=True):
    """`job.held`: the job waits for its turn in `session` (same namespace)."""

    job: JobRef
    session: str


_HELD_DECODER = msgspec.json.Decoder(JobHeld)


def encode_held(held: JobHeld) -> bytes:
    return msgspec.json.encode(held)


def decode_held(data: bytes) -> JobHeld:
    try:
        return _HELD_DECODER.decode(data)
    except msgspec.ValidationError as error:
        raise UserError(f"job.held: {error}", reason="InvalidEvent") from error


def in_turn(job: QiskitJob) -> bool:
    """Whether reconcile gave this generation its turn and it has not been validated yet:
    the status write that gave it is the event validate acts on."""
    status = job.status
    return (
        status is not None
        and admitted(status, job.generation)
        and status.phase in (None, Phase.PENDING, Phase.VALIDATING)
    )


class SessionGate:
    def __init__(self, sessions: SessionStore) -> None:
        self.sessions = sessions

    def admit(self, job: QiskitJob, ref: JobRef) -> QiskitJob | JobHeld:
        """The job to validate now, on its session's backend; or `JobHeld` while it
        waits for its turn. UserError when its session does not exist or has closed."""
        named = job.spec.session.name if job.spec.session else None
        if not named:
            return job
        namespace = job.metadata.namespace
        session = self.sessions.session(namespace, named)
        if session is None:
            raise UserError(
                f"spec.session.name {named}: there is no QiskitSession {named} in namespace "
                f"{namespace}; create it (examples/session.yaml) or remove spec.session",
                reason="SessionNotFound",
            )
        status = session.status
        running = status.running if status else []
        if not admitted(job.status, job.generation) and job.metadata.name not in running:
            if status is not None and status.state == "Closed":
                raise UserError(
                    f"session {named} is closed (its maxTime {session.spec.max_time} was "
                    "reached); name an open session in spec.session.name",
                    reason="SessionClosed",
                )
            return JobHeld(job=ref, session=named)
        pinned = job.model_copy(deep=True)
        pinned.spec.backend = session.spec.backend.model_copy(deep=True)
        pinned.spec.session = SessionSpec(name=named, mode=session.spec.mode)
        return pinned
