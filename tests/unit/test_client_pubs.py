"""How the client turns pubs into QiskitJobs and their answers back into pub results."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qiskit_operator.circuits.serialization import from_qpy
from qiskit_operator.client.decoding import pub_result
from qiskit_operator.client.pubs import (
    RUN_LABEL,
    JobTemplate,
    estimator_request,
    observable_text,
    sampler_request,
)
from qiskit_operator.execution.observables import parse_observable
from qiskit_operator.models import QiskitJob
from tests import primitives_proof as proof


def test_observables_are_written_as_pauli_sums_the_operator_parses_back() -> None:
    terms = {"XX": 0.5, "YY": -1.0, "ZI": 2.5e-05}
    text = observable_text(terms)
    assert text == "0.5*XX - YY + 2.5e-05*ZI"
    parsed = parse_observable(text, 2)
    assert dict(zip(parsed.paulis.to_labels(), parsed.coeffs.real, strict=True)) == terms


def test_an_observable_with_a_complex_coefficient_is_refused_with_what_to_change() -> None:
    with pytest.raises(ValueError, match="Hermitian, with real coefficients"):
        observable_text({"XY": 1j})


def test_a_sampler_pub_becomes_a_valid_qiskitjob_with_its_circuit_as_qpy() -> None:
    pub = SamplerPub.coerce((proof.ry_sweep(), np.linspace(0, 1, 6).reshape(2, 3, 1), 77))
    template = JobTemplate(namespace="team-a", backend={"name": "aer_simulator"}, seed=3)
    request = sampler_request(pub, template, "sampler-1-0", "sampler-1", 0)
    manifest = request.manifest
    job = QiskitJob.model_validate(manifest)  # what the API server's schema also holds
    assert job.metadata.namespace == "team-a"
    assert manifest["metadata"]["labels"][RUN_LABEL] == "sampler-1"
    assert job.spec.execution.shots == 77 and job.spec.execution.seed == 3
    assert job.spec.execution.parameter_values == [[v] for v in np.linspace(0, 1, 6)]
    assert job.spec.output is not None and job.spec.output.format == "json"
    (circuit,) = from_qpy(base64.b64decode(manifest["spec"]["circuit"]["code"]))
    assert circuit.num_parameters == 1
    assert request.binding_index.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_estimator_broadcasting_sends_each_distinct_observable_once() -> None:
    pub = EstimatorPub.coerce(proof.estimator_pubs()[0])
    request = estimator_request(pub, JobTemplate(), "e", "e", 0)
    execution = request.manifest["spec"]["execution"]
    assert execution["observables"] == ["ZZ", "XX", "-IZ + 0.5*ZI"]
    assert len(execution["parameterValues"]) == 4
    assert request.shape == (3, 4)
    assert request.observable_index is not None
    assert request.observable_index.tolist() == [[0] * 4, [1] * 4, [2] * 4]
    assert request.binding_index.tolist() == [[0, 1, 2, 3]] * 3


def test_counts_of_two_registers_become_one_bit_array_per_register_shot_by_shot() -> None:
    pub = SamplerPub.coerce(proof.two_registers(), 10)
    request = sampler_request(pub, JobTemplate(), "s", "s", 0)
    # Registers last first, as Result.get_counts writes them: beta, then alpha.
    document = {"points": [{"parameters": [], "counts": {"10 1": 6, "01 0": 4}}]}
    data = pub_result(request, document).data
    assert list(data) == ["alpha", "beta"]
    assert data.alpha.get_counts() == {"1": 6, "0": 4}
    assert data.beta.get_counts() == {"10": 6, "01": 4}
    # Shot by shot the registers stay together: alpha=1 always with beta=10.
    assert pub_result(request, document).join_data().get_counts() == {"101": 6, "010": 4}


def test_backend_budget_session_and_labels_go_where_the_spec_has_them() -> None:
    template = JobTemplate(
        namespace="team-a",
        backend={"name": "aer_simulator", "method": "statevector"},
        backend_selection={"preferredBackends": ["aer_simulator"]},
        budget={"maxCost": "$1.00"},
        session="nightly",
        labels={"team": "a"},
    )
    pub = SamplerPub.coerce(proof.bell_two_two(), 10)
    manifest = sampler_request(pub, template, "s", "s", 0).manifest
    job = QiskitJob.model_validate(manifest)
    assert job.spec.backend.method == "statevector"
    assert job.spec.backend_selection is not None
    assert job.spec.backend_selection.preferred_backends == ["aer_simulator"]
    assert job.spec.budget is not None and job.spec.budget.max_cost == "$1.00"
    assert job.spec.session is not None and job.spec.session.name == "nightly"
    assert manifest["metadata"]["labels"] == {"team": "a", RUN_LABEL: "s"}
