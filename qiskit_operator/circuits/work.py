"""The `job.validated` payload for a circuit at hand, as validate would send it.

For callers that have a QuantumCircuit rather than a QiskitJob: `qop` tooling,
the benchmarks and the tests that drive execute directly.
"""

from __future__ import annotations

import base64

from qiskit import QuantumCircuit

from qiskit_operator.circuits.serialization import canonical_qpy
from qiskit_operator.circuits.summary import summarise
from qiskit_operator.events import payloads

LOCAL_JOB = payloads.JobRef(namespace="default", name="circuit", uid="local", generation=1)


def validated_work(
    circuit: QuantumCircuit, request: payloads.ExecutionRequest, job: payloads.JobRef = LOCAL_JOB
) -> payloads.JobValidated:
    qpy, digest = canonical_qpy(circuit)
    return payloads.JobValidated(
        job=job,
        circuit_qpy=base64.b64encode(qpy).decode(),
        format="qpy",
        metadata=summarise(circuit, digest),
        backend="aer_simulator",
        execution=request,
        estimated_cost=None,
        validation_seconds=0.0,
    )
