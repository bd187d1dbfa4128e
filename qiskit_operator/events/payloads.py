"""Typed payloads of the events the functions reply with (msgspec: the hot path).

Big results never ride in an event; these stay small (DESIGN.md §3).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from qiskit_operator.events import types


class JobRef(msgspec.Struct, frozen=True, kw_only=True):
    namespace: str
    name: str
    uid: str
    generation: int

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class CircuitSummary(msgspec.Struct, frozen=True, kw_only=True):
    hash: str
    qubits: int
    clbits: int
    depth: int
    size: int
    gate_types: dict[str, int]
    two_qubit_gates: int
    parameters: list[str]


class OutputRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Where the full result goes (spec.output)."""

    type: str
    location: str | None = None
    path: str | None = None
    format: str = "json"
    # s3 only (docs/storage.md): where the object goes and which Secret signs for it.
    bucket: str | None = None
    prefix: str | None = None
    endpoint: str | None = None
    region: str | None = None
    credentials_secret: str | None = None


class Cost(msgspec.Struct, frozen=True, kw_only=True):
    """An amount of money (status.estimatedCost, status.actualCost)."""

    amount: float
    currency: str = "USD"


class Price(msgspec.Struct, frozen=True, kw_only=True):
    """The price of the job's backend, from its QiskitBackend (execute reads no Kubernetes)."""

    backend: str  # the QiskitBackend that set it
    per_shot: float = 0.0
    per_second: float = 0.0  # a device's second, or a simulator's CPU-second
    per_task: float = 0.0
    currency: str = "USD"


class CredentialsRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Which Secret holds the job's credentials: its name only, never what it holds."""

    namespace: str
    name: str
    explicit: bool  # named by spec.credentials.secretRef, else the namespace's default


class ExecutionRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What execute needs to run the job: it has no Kubernetes access to look it up."""

    shots: int
    optimization_level: int
    seed: int
    method: str = "automatic"
    max_execution_seconds: float | None = None
    primitive: str = "sampler"
    observables: list[str] = msgspec.field(default_factory=list)
    parameter_values: list[list[float]] = msgspec.field(default_factory=list)
    precision: float | None = None
    noise_model: str | None = None
    family: str = "aer"  # the backend family that runs it (qiskit_operator/providers)
    device: str | None = None  # the family's device, e.g. fake_manila; None for Aer
    credentials: CredentialsRequest | None = None  # for a family with a provider account
    output: OutputRequest | None = None
    # The job's QiskitSession, "namespace/name", and its mode (dedicated | batch): on
    # IBM Runtime its jobs run inside one Runtime Session or Batch (docs/sessions.md).
    session: str | None = None
    session_mode: str | None = None
    price: Price | None = None  # None: its backend has no price, and it costs nothing
    attempt: int = 0
    not_before: float | None = None  # epoch seconds: a retry waits until then


class DeviceTranspiled(msgspec.Struct, frozen=True, kw_only=True):
    """The circuit as transpiled for a device's target (what a device really runs)."""

    device: str
    depth: int
    two_qubit_gates: int


class BackendChoice(msgspec.Struct, frozen=True, kw_only=True):
    """Backend selection's choice (spec.backendSelection), and why."""

    backend: str | None  # the QiskitBackend chosen; None: the simulator fallback
    reason: str
    message: str
    original: str | None = None  # the backend first asked for, when it fell back
    fallback_used: bool = False


class JobValidated(msgspec.Struct, frozen=True, kw_only=True):
    job: JobRef
    circuit_qpy: str  # base64 of the canonical QPY
    format: str
    metadata: CircuitSummary
    backend: str
    execution: ExecutionRequest
    estimated_cost: Cost | None
    validation_seconds: float
    selection: BackendChoice | None = None
    transpiled: DeviceTranspiled | None = None
    budget: str | None = None  # the QiskitBudget that must admit it first (job.budgeted)


class JobRejected(msgspec.Struct, frozen=True, kw_only=True):
    job: JobRef
    reason: str
    message: str
    line: int | None = None


class SweepPoint(msgspec.Struct, frozen=True, kw_only=True):
    parameters: list[float]
    counts: dict[str, int] | None = None
    expectation_values: list[float] | None = None
    standard_errors: list[float] | None = None


class Reproducibility(msgspec.Struct, frozen=True, kw_only=True):
    qiskit_version: str
    qiskit_aer_version: str
    seed: int
    method: str
    transpiled_depth: int
    noise_model: str | None = None


class JobCompleted(msgspec.Struct, frozen=True, kw_only=True):
    """A summary: the top outcomes only. The full result is at `location`."""

    job: JobRef
    primitive: str = "sampler"
    counts: dict[str, int] | None = None
    outcomes: int = 0  # distinct outcomes in the full result, of which `counts` has the top
    expectation_values: list[float] | None = None
    standard_errors: list[float] | None = None
    sweep: list[SweepPoint] | None = None
    shots: int
    backend: str
    method: str
    seed: int | None
    transpiled: bool
    transpile_seconds: float
    execution_seconds: float
    location: str | None = None
    output: OutputRequest | None = None
    reproducibility: Reproducibility | None = None
    actual_cost: Cost | None = None


class JobSubmitted(msgspec.Struct, frozen=True, kw_only=True):
    """A hardware job is in its provider's queue; the ping observes it from here."""

    job: JobRef
    job_id: str
    backend: str
    queue_position: int | None = None
    estimated_start: float | None = None  # epoch seconds


class JobProgressed(msgspec.Struct, frozen=True, kw_only=True):
    """How much of an attempt's run is done: `done` of `total` `unit` (parameter sets).
    Advisory: lost, late or repeated, it changes nothing but status.progress, and that
    only upwards (`transitions.progressed`)."""

    job: JobRef
    done: Annotated[int, msgspec.Meta(ge=0)]
    total: Annotated[int, msgspec.Meta(ge=1)]
    unit: Literal["parameter sets"] = "parameter sets"
    attempt: Annotated[int, msgspec.Meta(ge=0)] = 0  # execution.attempt of the run it counts


class JobFailed(msgspec.Struct, frozen=True, kw_only=True):
    job: JobRef
    reason: str
    message: str
    kind: Literal["user", "transient"] = "user"
    work: JobValidated | None = None  # for a transient failure: what to run again


class JobFinished(msgspec.Struct, frozen=True, kw_only=True):
    job: JobRef
    phase: str
    message: str


Reply = (
    JobValidated
    | JobRejected
    | JobCompleted
    | JobFailed
    | JobFinished
    | JobSubmitted
    | JobProgressed
)

TYPE_OF: dict[type[Reply], str] = {
    JobValidated: types.JOB_VALIDATED,
    JobRejected: types.JOB_REJECTED,
    JobCompleted: types.JOB_COMPLETED,
    JobFailed: types.JOB_FAILED,
    JobFinished: types.JOB_FINISHED,
    JobSubmitted: types.JOB_SUBMITTED,
    JobProgressed: types.JOB_PROGRESSED,
}
_DECODERS: dict[str, msgspec.json.Decoder[Reply]] = {
    event_type: msgspec.json.Decoder(cls) for cls, event_type in TYPE_OF.items()
}
# A job a QiskitBudget must admit: validate's answer to reconcile alone, which reserves
# its estimate and sends it on as job.validated (docs/budgets.md).
_DECODERS[types.JOB_BUDGETED] = msgspec.json.Decoder(JobValidated)
_ENCODER = msgspec.json.Encoder()


class CancelRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Stop whatever runs for this job (any generation): reconcile to execute."""

    job: JobRef


_CANCEL_DECODER = msgspec.json.Decoder(CancelRequest)


class PayloadError(ValueError):
    """An event's data does not match the payload its type promises."""


def encode(payload: Reply) -> bytes:
    return _ENCODER.encode(payload)


def decode(event_type: str, data: bytes) -> Reply:
    decoder = _DECODERS.get(event_type)
    if decoder is None:
        raise PayloadError(f"no payload is defined for event type {event_type!r}")
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as error:
        raise PayloadError(f"{event_type}: {error}") from error
    except msgspec.DecodeError as error:
        raise PayloadError(f"{event_type}: data is not JSON: {error}") from error
    except RecursionError as error:  # msgspec recurses once per level, also when skipping
        raise PayloadError(f"{event_type}: data is nested too deeply") from error


def encode_cancel(request: CancelRequest) -> bytes:
    return _ENCODER.encode(request)


def decode_cancel(data: bytes) -> CancelRequest:
    try:
        return _CANCEL_DECODER.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as error:
        raise PayloadError(f"{types.EXECUTION_CANCEL}: {error}") from error
