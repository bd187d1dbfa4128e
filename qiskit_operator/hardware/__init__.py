"""Hardware jobs that outlive a request (docs/hardware-jobs.md).

A provider's job waits in its queue for minutes or hours, far beyond a Knative
request. Execute submits it and records the provider's job id at once
(`records`), then answers; every ping, execute polls what is outstanding and
records what it found, and reconcile turns the records into status. `records`
is shared by both and imports no Qiskit; `submitting` is execute's half.
"""
