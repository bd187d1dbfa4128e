"""What each backend family offers, and validate's refusal of a job asking for more."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from qiskit_operator.errors import UserError
from qiskit_operator.models.spec import BackendSpec
from qiskit_operator.providers import aer, capabilities
from qiskit_operator.providers.braket import devices as braket
from qiskit_operator.providers.capabilities import Ask
from qiskit_operator.providers.lookup import capabilities_of
from tests.conftest import ROOT


def ask(**changes: object) -> Ask:
    fields: dict[str, object] = {
        "primitive": "sampler",
        "noise_model": None,
        "swept": False,
        "shots": 1024,
        "qubits": 2,
    }
    fields.update(changes)
    return Ask(**fields)  # type: ignore[arg-type]


def test_aer_offers_both_primitives_noise_and_sweeps() -> None:
    assert (
        capabilities.shortfalls(
            aer.CAPABILITIES,
            ask(primitive="estimator", noise_model="generic_backend_2q", swept=True),
        )
        == []
    )


def test_braket_refuses_the_estimator_and_sweeps_each_saying_what_to_change() -> None:
    problems = capabilities.shortfalls(braket.CAPABILITIES, ask(primitive="estimator", swept=True))
    assert len(problems) == 2
    assert "set execution.primitive to sampler" in problems[0]
    assert "remove execution.parameterValues" in problems[1]


def test_every_shortfall_is_refused_in_one_message() -> None:
    with pytest.raises(UserError) as refused:
        capabilities.check(
            braket.CAPABILITIES, ask(shots=200_000, qubits=30, noise_model="generic_backend_2q")
        )
    assert refused.value.reason == capabilities.REFUSED
    message = refused.value.message
    assert "at most 100000 shots" in message
    assert "has 26 qubits but the circuit has 30" in message
    assert "takes no backend.noiseModel" in message


def test_a_fake_ibm_device_offers_as_many_qubits_as_its_snapshot_has() -> None:
    offered = capabilities_of(BackendSpec(type="ibm_simulator", name="fake_manila"))
    assert offered.family == "ibm_runtime"
    assert offered.max_qubits == 5
    assert "simulated locally" in offered.note
    assert capabilities.shortfalls(offered, ask(qubits=6)) == [
        "fake_manila (ibm_runtime) has 5 qubits but the circuit has 6; "
        "use a larger backend or a smaller circuit"
    ]


def test_a_real_ibm_device_is_refused_naming_its_snapshot() -> None:
    with pytest.raises(UserError, match=re.escape("use its snapshot, e.g. fake_sherbrooke")):
        capabilities_of(BackendSpec(type="ibm_quantum", name="ibm_sherbrooke"))


def test_an_ibm_job_without_a_device_name_is_told_to_name_one() -> None:
    with pytest.raises(UserError, match=re.escape("needs backend.name: a device snapshot such as")):
        capabilities_of(BackendSpec(type="ibm_simulator"))


def test_a_braket_device_arn_is_refused_pointing_at_the_local_simulator() -> None:
    arn = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
    with pytest.raises(UserError, match=re.escape("leave backend.name out, or write braket_local")):
        capabilities_of(BackendSpec(type="aws_braket", name=arn))


def test_a_simulator_job_naming_a_device_is_pointed_at_its_providers_type() -> None:
    with pytest.raises(UserError, match=re.escape("ibm_simulator for a device snapshot")):
        capabilities_of(BackendSpec(type="local_simulator", name="fake_manila"))


@pytest.mark.parametrize(
    ("backend", "module", "extra"),
    [
        (BackendSpec(type="aws_braket"), "qiskit_braket_provider", "braket"),
        (BackendSpec(type="ibm_quantum", name="fake_manila"), "qiskit_ibm_runtime", "ibm"),
    ],
)
def test_a_missing_extra_is_refused_with_the_pip_command_not_an_import_error(
    monkeypatch: pytest.MonkeyPatch, backend: BackendSpec, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(UserError) as refused:
        capabilities_of(backend)
    assert refused.value.reason == "ProviderNotInstalled"
    assert f"install qiskit-operator[{extra}]" in refused.value.message


def test_validates_capability_lookup_loads_without_qiskit_aer() -> None:
    # The validate image has no Qiskit Aer: what validate imports to check a job
    # against its backend must not need it.
    probe = (
        "import sys\n"
        "sys.modules['qiskit_aer'] = None\n"
        "from qiskit_operator.models.spec import BackendSpec\n"
        "from qiskit_operator.providers.lookup import capabilities_of\n"
        "for kind in ('local_simulator', 'aws_braket'):\n"
        "    print(capabilities_of(BackendSpec(type=kind)).family)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["aer", "braket"]
