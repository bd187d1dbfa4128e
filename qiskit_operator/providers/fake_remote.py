"""A fake provider with a queue: jobs that are queued, run and complete later.

What the tests use for hardware jobs (docs/hardware-jobs.md): `backend.type
ibm_quantum` with a device named `fake_remote` queues each job for a while, runs
it for a while (both on the clock, so a job completes whether or not anyone
waits) and then has its counts, from Aer. Its jobs live in files, as a real
provider's live on its servers, so they outlive execute's process. Devices that
fail on purpose: `fake_remote_offline` (submit refused: offline),
`fake_remote_full` (submit refused: queue full), `fake_remote_fails` (the job
fails remotely). It takes tokens that start with `fake-token-` and refuses any
other, as a provider refuses a wrong one. Called through `hardware.submitting`.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from qiskit_operator.errors import UserError
from qiskit_operator.providers.capabilities import Capabilities

if TYPE_CHECKING:  # validate reads `capabilities`, and its image has no Qiskit Aer
    from qiskit_operator.execution.aer import Outcome, Workload
    from qiskit_operator.hardware.credentials import Token
    from qiskit_operator.providers.remote import RemoteStatus

PREFIX = "fake_remote"
TOKEN_PREFIX = "fake-token-"
"""The tokens the fake provider takes; any other is refused as a real one would be."""
QUBITS = 5
QUEUE_AHEAD = 3  # jobs said to be ahead of a new one; one leaves per queue_seconds / 3


def capabilities(name: str) -> Capabilities:
    return Capabilities(
        family="fake_remote",
        device=name,
        primitives=frozenset({"sampler"}),
        noise_models=False,
        sweeps=False,
        max_shots=100_000,
        max_qubits=QUBITS,
        note="a fake device with a queue: jobs complete later",
    )


class FakeJob(msgspec.Struct, kw_only=True):
    id: str
    tag: str
    device: str
    qpy: str
    circuit_hash: str
    shots: int
    seed: int
    submitted_at: float
    cancelled: bool = False


class FakeRemoteProvider:
    def __init__(
        self,
        directory: Path,
        *,
        queue_seconds: float = 2.0,
        run_seconds: float = 2.0,
    ) -> None:
        self.directory = Path(directory)
        self.queue_seconds = queue_seconds
        self.run_seconds = run_seconds
        self.submitted = 0  # this process's submissions: what the tests count

    def submit(self, work: Workload, tag: str, token: Token | None) -> str:
        from qiskit_operator.circuits.serialization import to_qpy

        if token is None or not token.reveal().startswith(TOKEN_PREFIX):
            raise UserError(
                "the provider refused the token (401 Unauthorized)", reason="CredentialsInvalid"
            )
        device = work.device or PREFIX
        if device == f"{PREFIX}_offline":
            raise UserError(
                f"{device} is offline for maintenance; pick another backend, or apply the "
                "job again once it is back",
                reason="DeviceOffline",
            )
        if device == f"{PREFIX}_full":
            raise UserError(
                f"the queue of {device} is full; apply the job again later, or pick another "
                "backend",
                reason="QueueFull",
            )
        job = FakeJob(
            id=f"fake-{uuid.uuid4().hex[:12]}",
            tag=tag,
            device=device,
            qpy=base64.b64encode(to_qpy(work.circuit)).decode(),
            circuit_hash=work.circuit_hash,
            shots=work.shots,
            seed=work.seed,
            submitted_at=time.time(),
        )
        self._write(job)
        self.submitted += 1
        return job.id

    def find(self, tag: str) -> str | None:
        for path in self.directory.glob("*.json"):
            job = msgspec.json.decode(path.read_bytes(), type=FakeJob)
            if job.tag == tag:
                return job.id
        return None

    def status(self, job_id: str) -> RemoteStatus:
        from qiskit_operator.providers.remote import RemoteStatus

        job = self._read(job_id)
        if job.cancelled:
            return RemoteStatus(state="cancelled", message="cancelled")
        waited = time.time() - job.submitted_at
        if waited < self.queue_seconds:
            left = self.queue_seconds - waited
            ahead = max(1, int(QUEUE_AHEAD * left / self.queue_seconds + 0.999))
            start = job.submitted_at + self.queue_seconds
            return RemoteStatus(state="queued", queue_position=ahead, estimated_start=start)
        if waited < self.queue_seconds + self.run_seconds:
            return RemoteStatus(state="running")
        if job.device == f"{PREFIX}_fails":
            return RemoteStatus(
                state="failed", message=f"{job.device} reported a calibration error mid-run"
            )
        return RemoteStatus(state="completed")

    def result(self, job_id: str) -> Outcome:
        from qiskit_operator.circuits.declarations import ONE_CIRCUIT
        from qiskit_operator.circuits.serialization import from_qpy
        from qiskit_operator.execution.aer import AerRunner, Workload

        job = self._read(job_id)
        circuits = from_qpy(base64.b64decode(job.qpy), ONE_CIRCUIT)
        return AerRunner().run(
            Workload(
                circuit=circuits[0], circuit_hash=job.circuit_hash, shots=job.shots, seed=job.seed
            )
        )

    def cancel(self, job_id: str) -> None:
        job = self._read(job_id)
        job.cancelled = True
        self._write(job)

    def _read(self, job_id: str) -> FakeJob:
        return msgspec.json.decode((self.directory / f"{job_id}.json").read_bytes(), type=FakeJob)

    def _write(self, job: FakeJob) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f"{job.id}.partial"
        partial.write_bytes(msgspec.json.encode(job))
        os.replace(partial, self.directory / f"{job.id}.json")
