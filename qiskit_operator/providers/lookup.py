"""What the backend a job names can do, for validate to check the job against.

Called by validate with spec.backend; every refusal says which field to change.
A family whose extra is missing is refused here, at validation, with the pip
command that installs it.
"""

from __future__ import annotations

from qiskit_operator.circuits.backends import is_aer
from qiskit_operator.errors import UserError
from qiskit_operator.models.spec import BackendSpec
from qiskit_operator.providers import FAMILY_OF_TYPE, fake_remote
from qiskit_operator.providers.capabilities import Capabilities


def family_of(backend: BackendSpec) -> str:
    """The family that runs `backend`: its type's, but for the fake device with a queue."""
    if backend.type == "ibm_quantum" and (backend.name or "").startswith(fake_remote.PREFIX):
        return "fake_remote"
    return FAMILY_OF_TYPE[backend.type]


def capabilities_of(backend: BackendSpec) -> Capabilities:
    family = family_of(backend)
    if family == "fake_remote":
        return fake_remote.capabilities(str(backend.name))
    if family == "ibm_runtime":
        from qiskit_operator.providers.ibm_runtime import devices

        return devices.capabilities(backend.name, backend.type)
    if family == "braket":
        from qiskit_operator.providers.braket.devices import capabilities

        return capabilities(backend.name)
    if not is_aer(backend.name):
        raise UserError(
            f"backend.name {backend.name} is not a simulator; local_simulator jobs run on "
            "Qiskit Aer, so leave backend.name out (or use aer_simulator), or pick the "
            "backend.type of its provider (ibm_simulator for a device snapshot such as "
            "fake_manila)",
            reason="UnsupportedBackend",
        )
    from qiskit_operator.providers import aer

    return aer.CAPABILITIES
