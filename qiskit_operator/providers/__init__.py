"""Where a job runs: one provider per backend family behind one interface.

The families are Qiskit Aer (`aer`), IBM Quantum through Qiskit Runtime
(`ibm_runtime`) and Amazon Braket (`braket`). `capabilities` says what each
offers, for validate to refuse a job that asks for more; `running` runs a
workload on the family it names, for execute and its simulation worker. This
module and `capabilities` import no Qiskit; the families' modules do, and the
optional SDKs (the `ibm` and `braket` extras) only when a job needs them.
"""

from __future__ import annotations

from typing import Literal

Family = Literal["aer", "ibm_runtime", "braket"]

FAMILY_OF_TYPE: dict[str, Family] = {
    "local_simulator": "aer",
    "ibm_quantum": "ibm_runtime",
    "ibm_simulator": "ibm_runtime",
    "aws_braket": "braket",
}
"""spec.backend.type, the original operator's words, to the family that runs it."""

REMOTE_FAMILIES = frozenset({"fake_remote"})
"""Families whose jobs wait in a provider's queue (docs/hardware-jobs.md) and need
credentials from a Secret (docs/credentials.md)."""
DEFAULT_CREDENTIALS_SECRET = "qiskit-credentials"
"""The Secret in a job's namespace that holds its credentials when spec.credentials
names none: one per namespace, shared by its jobs."""
