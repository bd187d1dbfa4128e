"""An IBM device's state for its QiskitBackend: a snapshot answers from its bundled data
(static, no network); a real device is asked through Qiskit Runtime's service with the
namespace's account, here a stand-in service, since no test reaches IBM Quantum."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from qiskit_operator.catalogue.refreshing import refreshed
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.hardware.credentials import Token
from qiskit_operator.models.backend import QiskitBackend
from qiskit_operator.providers.ibm_runtime.status import IBMAccount, device_report
from tests.conftest import EXAMPLES

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ACCOUNT = IBMAccount(token=Token("secret-token-123"), instance="crn:v1:test")


def real_device(availability: str = "Available") -> QiskitBackend:
    manifest = yaml.safe_load((EXAMPLES / "backends" / "ibm-fake-manila.yaml").read_text())
    manifest["metadata"]["name"] = "ibm-brisbane"
    manifest["spec"]["device"] = "ibm_brisbane"
    manifest["spec"]["availability"] = availability
    return QiskitBackend.model_validate(manifest)


@dataclass
class StandInService:
    """What Qiskit Runtime's service answers for a device, and the accounts it was made for."""

    status: Any
    accounts: list[IBMAccount] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    def __call__(self, account: IBMAccount) -> StandInService:
        self.accounts.append(account)
        return self

    def backend(self, name: str) -> SimpleNamespace:
        self.asked.append(name)
        return SimpleNamespace(status=lambda: self.status)


def test_a_device_snapshot_is_operational_with_no_queue_on_every_ping() -> None:
    first = device_report("fake_manila", None)
    assert (first.operational, first.queue_length) == (True, 0)
    assert "static" in first.message
    assert device_report("fake_manila", None) == first


def test_a_real_devices_queue_and_state_are_read_through_the_service_with_the_account() -> None:
    service = StandInService(
        SimpleNamespace(operational=False, pending_jobs=12, status_msg="maintenance")
    )
    report = device_report("ibm_brisbane", ACCOUNT, service)
    assert service.accounts == [ACCOUNT] and service.asked == ["ibm_brisbane"]
    status = refreshed(real_device(), NOW, report)
    assert (status.state, status.queue_length) == ("Unavailable", 12)
    assert status.message == "ibm_brisbane, as ibm_runtime reports it: maintenance"


def test_an_operational_device_keeps_the_availability_its_administrator_declared() -> None:
    service = StandInService(SimpleNamespace(operational=True, pending_jobs=3, status_msg="active"))
    report = device_report("ibm_brisbane", ACCOUNT, service)
    assert refreshed(real_device(), NOW, report).state == "Available"
    assert refreshed(real_device("Maintenance"), NOW, report).state == "Maintenance"


def test_a_real_device_without_an_account_says_which_secret_key_to_fill() -> None:
    with pytest.raises(UserError) as missing:
        device_report("ibm_brisbane", None)
    assert missing.value.reason == "CredentialsMissing"
    assert "key 'token'" in missing.value.message


def test_ibm_quantum_out_of_reach_is_transient_and_never_shows_the_token() -> None:
    def unreachable(account: IBMAccount) -> Any:
        raise ConnectionError(f"POST https://auth.example/api?apikey={account.token.reveal()}")

    with pytest.raises(TransientError) as failed:
        device_report("ibm_brisbane", ACCOUNT, unreachable)
    assert "ConnectionError" in failed.value.message
    assert "secret-token-123" not in failed.value.message


def test_without_a_report_a_real_device_stays_unavailable_saying_why() -> None:
    status = refreshed(real_device(), NOW)
    assert (status.state, status.queue_length) == ("Unavailable", None)
    assert "cannot reach" in (status.message or "")
