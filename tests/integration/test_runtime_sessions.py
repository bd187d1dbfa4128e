"""A QiskitSession's jobs on an IBM device snapshot run inside one Qiskit Runtime Session
(dedicated) or Batch (batch), opened once per session in local testing mode."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

from qiskit_operator.execution.aer import Workload
from qiskit_operator.providers.ibm_runtime.runtime import IBMRuntimeProvider
from qiskit_operator.providers.ibm_runtime.sessions import open_sessions


def bell_in(session: str | None, mode: str | None, primitive: str = "sampler") -> Workload:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    if primitive == "sampler":
        circuit.measure_all()
    return Workload(
        circuit=circuit,
        circuit_hash=f"bell-{primitive}",
        shots=200,
        seed=11,
        primitive="estimator" if primitive == "estimator" else "sampler",
        observables=("ZZ",) if primitive == "estimator" else (),
        family="ibm_runtime",
        device="fake_manila",
        session=session,
        session_mode=mode,
    )


@pytest.mark.parametrize(("mode", "kind"), [("dedicated", "Session"), ("batch", "Batch")])
def test_a_sessions_jobs_run_inside_one_runtime_session_of_its_mode(mode: str, kind: str) -> None:
    provider = IBMRuntimeProvider()
    name = f"team/{mode}-session"
    first = provider.run(bell_in(name, mode))
    second = provider.run(bell_in(name, mode, "estimator"))
    assert first.points[0].counts is not None and sum(first.points[0].counts.values()) == 200
    assert second.points[0].expectation_values is not None
    assert second.points[0].expectation_values[0] > 0.5  # a (noisy) Bell state's <ZZ>
    assert open_sessions().count((name, kind)) == 1  # both jobs in the one it opened


def test_a_job_outside_sessions_opens_none() -> None:
    before = open_sessions()
    IBMRuntimeProvider().run(bell_in(None, None))
    assert open_sessions() == before
