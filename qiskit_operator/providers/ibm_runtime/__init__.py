"""The IBM Runtime family: IBM Quantum devices through qiskit-ibm-runtime.

A device's snapshot (a fake backend of `qiskit_ibm_runtime.fake_provider`, such
as `fake_manila`) runs in Qiskit Runtime's local testing mode: the sampler and
estimator simulate on Aer with the device's own noise, coupling and basis gates,
on execute's machine, with no network. That is what `ibm_simulator` means here,
IBM having retired its cloud simulators, and what `ibm_quantum` runs for a fake
device name. `devices` says what a device offers (validate); `runtime` runs a
workload on it (execute). Both need the `ibm` extra, and say so when it is missing.
"""
