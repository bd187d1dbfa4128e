"""The events reconcile receives, built as validate, execute and the event source send
them: what the status tests and the model test deliver, in any order and any number
of times."""

from __future__ import annotations

from typing import Any

from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope


def summary(gate_types: dict[str, int]) -> payloads.CircuitSummary:
    return payloads.CircuitSummary(
        hash="h-" + "-".join(sorted(gate_types)),
        qubits=2,
        clbits=2,
        depth=len(gate_types),
        size=sum(gate_types.values()),
        gate_types=gate_types,
        two_qubit_gates=0,
        parameters=[],
    )


def validated(
    job: payloads.JobRef,
    gate_types: dict[str, int] | None = None,
    attempt: int = 0,
    output: payloads.OutputRequest | None = None,
    seconds: float = 0.5,
) -> payloads.JobValidated:
    return payloads.JobValidated(
        job=job,
        circuit_qpy="",
        format="qasm2",
        metadata=summary(gate_types or {"h": 1, "cx": 1, "measure": 2}),
        backend="aer_simulator",
        execution=payloads.ExecutionRequest(
            shots=10, optimization_level=1, seed=1, attempt=attempt, output=output
        ),
        estimated_cost=None,
        validation_seconds=seconds,
    )


def completed(
    job: payloads.JobRef,
    counts: dict[str, int] | None = None,
    location: str | None = None,
    method: str = "stabilizer",
    seconds: float = 0.75,
) -> payloads.JobCompleted:
    counts = counts if counts is not None else {"00": 5, "11": 5}
    return payloads.JobCompleted(
        job=job,
        counts=counts,
        outcomes=len(counts),
        shots=sum(counts.values()),
        backend="aer_simulator",
        method=method,
        seed=1,
        transpiled=False,
        transpile_seconds=0.25,
        execution_seconds=seconds,
        location=location,
    )


def transient(job: payloads.JobRef, attempt: int) -> payloads.JobFailed:
    return payloads.JobFailed(
        job=job,
        reason="TransientFailure",
        message="worker died",
        kind="transient",
        work=validated(job, attempt=attempt),
    )


def failed(job: payloads.JobRef, reason: str = "CircuitFailed") -> payloads.JobFailed:
    return payloads.JobFailed(job=job, reason=reason, message="the circuit failed", kind="user")


def envelope(reply: payloads.Reply) -> Envelope:
    kind = {
        payloads.JobValidated: types.JOB_VALIDATED,
        payloads.JobRejected: types.JOB_REJECTED,
        payloads.JobCompleted: types.JOB_COMPLETED,
        payloads.JobFailed: types.JOB_FAILED,
    }[type(reply)]
    return Envelope(type=kind, source="/test", data=payloads.encode(reply))


def changed(obj: dict[str, Any]) -> Envelope:
    """The event source's update event carrying `obj` as the API server has it."""
    return resource_event(obj, types.APISERVER_UPDATE)


def ref_of(obj: dict[str, Any]) -> payloads.JobRef:
    meta = obj["metadata"]
    return payloads.JobRef(
        namespace=meta["namespace"],
        name=meta["name"],
        uid=meta["uid"],
        generation=int(meta["generation"]),
    )
