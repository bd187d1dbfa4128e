"""The Braket family: Amazon Braket through qiskit-braket-provider.

Runs on Braket's local state-vector simulator (`BraketLocalBackend`), which
needs no AWS account and no network: `backend.type aws_braket` with no
`backend.name`, or the name `braket_local`. Braket devices (an ARN) need AWS
credentials, which this cluster does not take yet, and are refused with that
reason. Sampler only, no sweeps; the local simulator has no seed, so its counts
vary from run to run. `devices` says what it offers (validate); `local` runs a
workload on it (execute). Both need the `braket` extra, and say so when it is
missing.
"""
