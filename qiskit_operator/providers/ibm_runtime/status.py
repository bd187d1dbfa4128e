"""What an IBM device says of itself now: operational or not, and how many jobs wait
in its queue, for a QiskitBackend's status (`catalogue.refreshing.DeviceReport`).

A device snapshot (`fake_*`) answers from its bundled data, with no network: always
operational, no queue, the same on every ping. A real device is asked through Qiskit
Runtime's service with the namespace's account (the token execute reads from its
Secret, `hardware.credentials`); that needs a network this project's tests never
reach, so they drive that path with a stand-in service (docs/backends.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qiskit_operator.catalogue.refreshing import DeviceReport
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.hardware.credentials import TOKEN_KEY, Token
from qiskit_operator.providers.extras import require
from qiskit_operator.providers.ibm_runtime.devices import fake_device

DEFAULT_CHANNEL = "ibm_quantum_platform"


@dataclass(frozen=True, slots=True)
class IBMAccount:
    """An IBM Quantum account as Qiskit Runtime's service takes it."""

    token: Token
    channel: str = DEFAULT_CHANNEL
    instance: str | None = None


def runtime_service(account: IBMAccount) -> Any:
    """Qiskit Runtime's service for `account` (it reaches IBM Quantum over the network)."""
    runtime = require("qiskit_ibm_runtime", "ibm", "the live state of an IBM device")
    return runtime.QiskitRuntimeService(
        channel=account.channel, token=account.token.reveal(), instance=account.instance
    )


def device_report(
    device: str,
    account: IBMAccount | None,
    service: Callable[[IBMAccount], Any] = runtime_service,
) -> DeviceReport:
    """How `device` is now; UserError when a real device is asked of without an account,
    TransientError when IBM Quantum cannot say (the next ping asks again)."""
    if device.startswith("fake_"):
        snapshot = fake_device(device, "ibm_simulator").status()
        return DeviceReport(
            operational=bool(snapshot.operational),
            queue_length=int(snapshot.pending_jobs),
            message=f"a snapshot, simulated locally: {snapshot.status_msg}, no queue (static)",
        )
    if account is None:
        raise UserError(
            f"the live state of IBM device {device} needs an IBM Quantum account: put its "
            f"API token under key {TOKEN_KEY!r} of the namespace's credentials Secret "
            "(docs/credentials.md)",
            reason="CredentialsMissing",
        )
    try:
        status = service(account).backend(device).status()
    except Exception as error:  # the SDK's own errors: network, account, unknown device
        # The type only: an SDK's message may quote the request, token and all.
        raise TransientError(
            f"IBM Quantum did not say how {device} is ({type(error).__name__}); asked again "
            "on the next ping"
        ) from error
    pending = getattr(status, "pending_jobs", None)
    return DeviceReport(
        operational=bool(status.operational),
        queue_length=None if pending is None else int(pending),
        message=str(getattr(status, "status_msg", "") or "no message"),
    )
