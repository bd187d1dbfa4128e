"""Qiskit's V2 primitives on the operator: `Sampler` and `Estimator` submit each pub as a
QiskitJob (on a cluster, or with `local=True` through the embedded pipeline) and
give back what Qiskit's own primitives give. See docs/client.md."""

from qiskit_operator.client.estimator import Estimator
from qiskit_operator.client.job import JobFailedError, OperatorJob
from qiskit_operator.client.results import OperatorResult
from qiskit_operator.client.sampler import Sampler

__all__ = ["Estimator", "JobFailedError", "OperatorJob", "OperatorResult", "Sampler"]
