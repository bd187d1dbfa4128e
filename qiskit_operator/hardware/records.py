"""The record of one hardware job, on the results volume execute and reconcile share.

Execute writes it (`submitting`): first the intent to submit with the tag the
provider job will carry, then the provider's job id, then each poll's findings
and finally the outcome. Reconcile reads it on the ping and writes status from
it, after checking it is about the job as the API server has it (uid,
generation). One file per job generation, replaced atomically, so a reader never
sees half a record.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import msgspec

from qiskit_operator.events import payloads

RemoteState = Literal["submitting", "queued", "running", "completed", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


class RemoteRecord(msgspec.Struct, kw_only=True):
    job: payloads.JobRef
    tag: str
    """What the provider job is tagged with: finds it again if its id was never written."""
    family: str
    device: str | None
    state: RemoteState = "submitting"
    job_id: str | None = None
    queue_position: int | None = None
    estimated_start: float | None = None  # epoch seconds
    submitted_at: float | None = None
    deadline: float | None = None  # epoch seconds: maxExecutionTime after submission
    reason: str | None = None
    message: str | None = None
    completed: payloads.JobCompleted | None = None
    work: payloads.JobValidated | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def tag_of(job: payloads.JobRef) -> str:
    return f"qop-{job.uid}-{job.generation}"


class RecordStore:
    """Records under `<results dir>/.hardware/<namespace>/`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / ".hardware"

    def _path(self, job: payloads.JobRef) -> Path:
        return self.root / job.namespace / f"{job.uid}-{job.generation}.json"

    def read(self, job: payloads.JobRef) -> RemoteRecord | None:
        try:
            return msgspec.json.decode(self._path(job).read_bytes(), type=RemoteRecord)
        except FileNotFoundError:
            return None

    def write(self, record: RemoteRecord) -> None:
        path = self._path(record.job)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(msgspec.json.encode(record))
        os.replace(partial, path)  # atomic: a reader sees the old record or the new

    def outstanding(self) -> list[RemoteRecord]:
        """Every record not finished yet, oldest first."""
        found = []
        for path in sorted(self.root.glob("*/*.json"), key=lambda p: p.stat().st_mtime):
            try:
                record = msgspec.json.decode(path.read_bytes(), type=RemoteRecord)
            except (OSError, msgspec.DecodeError):
                continue  # removed meanwhile, or not ours
            if not record.finished:
                found.append(record)
        return found

    def remove_uid(self, namespace: str, uid: str) -> int:
        """Remove the records of a deleted job (every generation); how many."""
        removed = 0
        for path in (self.root / namespace).glob(f"{uid}-*.json"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def of_uid(self, namespace: str, uid: str) -> list[RemoteRecord]:
        found = []
        for path in sorted((self.root / namespace).glob(f"{uid}-*.json")):
            try:
                found.append(msgspec.json.decode(path.read_bytes(), type=RemoteRecord))
            except (OSError, msgspec.DecodeError):
                continue
        return found
