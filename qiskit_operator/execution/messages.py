"""What execute and its simulation worker say to each other, typed and bounded.

`IsolatedRunner` encodes a workload and decodes the worker's reply; the worker
(`worker`) does the reverse. The worker loads QPY and runs Aer, so its replies
are hostile input: the parent reads at most `MAX_REPLY` bytes and decodes them
into these types only, every string and list bounded. Anything else is a
`MalformedReplyError`. msgpack, never pickle.

While a sweep runs, the worker may send `Progressed` frames before its reply;
`check_progress` takes one only if it counts up, within the sweep's size.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from qiskit_operator.caches import CacheCounts, RemoteCacheCounts
from qiskit_operator.circuits.declarations import SizeLimits
from qiskit_operator.circuits.serialization import from_qpy
from qiskit_operator.errors import UserError
from qiskit_operator.execution.aer import Outcome, Point, Workload

MAX_WORKLOAD = 256 << 20
"""Largest workload frame the worker reads (the parent is trusted)."""
MAX_REPLY = 32 << 20
"""Largest reply frame the parent reads: counts of a million distinct outcomes fit."""

_Short = Annotated[str, msgspec.Meta(max_length=1024)]
_Message = Annotated[str, msgspec.Meta(max_length=16384)]
_Floats = Annotated[list[float], msgspec.Meta(max_length=1 << 20)]
_Caches = Annotated[list[CacheCounts], msgspec.Meta(max_length=16)]


class WorkloadMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A `Workload` with its circuit as QPY."""

    qpy: bytes
    circuit_hash: _Short
    shots: int
    seed: int
    method: _Short
    optimization_level: int
    primitive: _Short
    observables: list[str]
    parameter_values: list[list[float]]
    precision: float | None
    noise_model: _Short | None
    family: _Short = "aer"
    device: _Short | None = None
    session: _Short | None = None
    session_mode: _Short | None = None


class PointMessage(msgspec.Struct, frozen=True, kw_only=True):
    parameters: _Floats
    counts: Annotated[dict[_Short, int], msgspec.Meta(max_length=1 << 22)] | None = None
    expectation_values: _Floats | None = None
    standard_errors: _Floats | None = None


class Simulated(msgspec.Struct, frozen=True, kw_only=True, tag="ok"):
    points: Annotated[list[PointMessage], msgspec.Meta(max_length=1 << 20)]
    method: _Short
    seed: int
    transpiled: bool
    transpiled_depth: int
    transpile_seconds: float
    execution_seconds: float
    registers: Annotated[list[_Short], msgspec.Meta(max_length=4096)] = []
    register_sizes: Annotated[list[int], msgspec.Meta(max_length=4096)] = []
    caches: _Caches = []
    """The worker's caches so far (it serves no metrics itself)."""


class SimulationFailed(msgspec.Struct, frozen=True, kw_only=True, tag="error"):
    message: _Message
    reason: _Short
    caches: _Caches = []


class Progressed(msgspec.Struct, frozen=True, kw_only=True, tag="progress"):
    """Parameter sets done so far, of `total`: sent before the reply, never instead."""

    done: Annotated[int, msgspec.Meta(ge=0, le=1 << 20)]
    total: Annotated[int, msgspec.Meta(ge=0, le=1 << 20)]


WorkerReply = Simulated | SimulationFailed


class MalformedReplyError(ValueError):
    """The worker sent something that is not a reply of this protocol."""


_ENCODER = msgspec.msgpack.Encoder()
_WORKLOAD = msgspec.msgpack.Decoder(WorkloadMessage)
_REPLY = msgspec.msgpack.Decoder(WorkerReply | Progressed)


def workload_message(work: Workload, qpy: bytes) -> WorkloadMessage:
    """`work` with its circuit as `qpy` (see `executing` for a message built from QPY alone)."""
    return WorkloadMessage(
        qpy=qpy,
        circuit_hash=work.circuit_hash,
        shots=work.shots,
        seed=work.seed,
        method=work.method,
        optimization_level=work.optimization_level,
        primitive=work.primitive,
        observables=list(work.observables),
        parameter_values=[list(row) for row in work.parameter_values],
        precision=work.precision,
        noise_model=work.noise_model,
        family=work.family,
        device=work.device,
    )


def encode_workload(message: WorkloadMessage) -> bytes:
    return _ENCODER.encode(message)


def decode_workload(frame: bytes) -> WorkloadMessage:
    return _WORKLOAD.decode(frame)


def workload_of(message: WorkloadMessage, sizes: SizeLimits) -> Workload:
    """The workload `message` asks for, its QPY loaded here within `sizes`: in the worker,
    or in execute's own process where isolation is not required."""
    circuits = from_qpy(message.qpy, sizes)
    if not circuits:
        raise UserError("the validated event holds no circuit", reason="NoCircuit")
    return Workload(
        circuit=circuits[0],
        circuit_hash=message.circuit_hash,
        shots=message.shots,
        seed=message.seed,
        method=message.method,
        optimization_level=message.optimization_level,
        primitive="estimator" if message.primitive == "estimator" else "sampler",
        observables=tuple(message.observables),
        parameter_values=tuple(tuple(row) for row in message.parameter_values),
        precision=message.precision,
        noise_model=message.noise_model,
        family=message.family,
        device=message.device,
        session=message.session,
        session_mode=message.session_mode,
    )


def encode_outcome(outcome: Outcome, caches: list[CacheCounts] | None = None) -> bytes:
    return _ENCODER.encode(
        Simulated(
            points=[
                PointMessage(
                    parameters=list(p.parameters),
                    counts=p.counts,
                    expectation_values=p.expectation_values,
                    standard_errors=p.standard_errors,
                )
                for p in outcome.points
            ],
            method=outcome.method,
            seed=outcome.seed,
            transpiled=outcome.transpiled,
            transpiled_depth=outcome.transpiled_depth,
            transpile_seconds=outcome.transpile_seconds,
            execution_seconds=outcome.execution_seconds,
            registers=outcome.registers,
            register_sizes=outcome.register_sizes,
            caches=caches or [],
        )
    )


def encode_failure(message: str, reason: str, caches: list[CacheCounts] | None = None) -> bytes:
    return _ENCODER.encode(
        SimulationFailed(message=message[:16384], reason=reason[:1024], caches=caches or [])
    )


def encode_progress(done: int, total: int) -> bytes:
    return _ENCODER.encode(Progressed(done=done, total=total))


def check_progress(reply: Progressed, expected_total: int, done_before: int) -> int:
    """The sets done that `reply` says: of the sweep's `expected_total`, more than
    `done_before`, as a worker reports after each chunk. A count that stands still or
    goes back, passes the end or is of another total cannot come from a worker running
    this workload: MalformedReplyError."""
    if not done_before < reply.done <= reply.total == expected_total:
        raise MalformedReplyError(
            f"progress {reply.done}/{reply.total} after {done_before} of {expected_total} sets"
        )
    return reply.done


def decode_frame(frame: bytes, caches: RemoteCacheCounts | None = None) -> Outcome | Progressed:
    """A frame of the worker's: progress, or its reply (as `decode_reply`)."""
    try:
        reply: WorkerReply | Progressed = _REPLY.decode(frame)
    except msgspec.DecodeError as error:
        raise MalformedReplyError(str(error)) from error
    if isinstance(reply, Progressed):
        return reply
    return _outcome(reply, caches)


def decode_reply(frame: bytes, caches: RemoteCacheCounts | None = None) -> Outcome:
    """The worker's outcome; UserError for its refusal; MalformedReplyError for anything else.
    The counts of the worker's caches go to `caches`."""
    reply = decode_frame(frame, caches)
    if isinstance(reply, Progressed):
        raise MalformedReplyError("progress where the reply was due")
    return reply


def _outcome(reply: WorkerReply, caches: RemoteCacheCounts | None) -> Outcome:
    if caches is not None:
        caches.report(reply.caches)
    if isinstance(reply, SimulationFailed):
        raise UserError(reply.message, reason=reply.reason)
    return Outcome(
        points=[
            Point(
                parameters=tuple(p.parameters),
                counts=p.counts,
                expectation_values=p.expectation_values,
                standard_errors=p.standard_errors,
            )
            for p in reply.points
        ],
        method=reply.method,
        seed=reply.seed,
        transpiled=reply.transpiled,
        transpiled_depth=reply.transpiled_depth,
        transpile_seconds=reply.transpile_seconds,
        execution_seconds=reply.execution_seconds,
        registers=list(reply.registers),
        register_sizes=list(reply.register_sizes),
    )
