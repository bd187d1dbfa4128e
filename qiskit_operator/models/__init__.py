"""Pydantic models of the custom resources: the single source of truth for the CRDs."""

from qiskit_operator.models.job import API_VERSION, GROUP, VERSION, ObjectMeta, QiskitJob
from qiskit_operator.models.phases import Phase
from qiskit_operator.models.spec import CircuitSpec, ExecutionSpec, JobSpec
from qiskit_operator.models.status import CircuitMetadata, Condition, JobStatus, Results

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "CircuitMetadata",
    "CircuitSpec",
    "Condition",
    "ExecutionSpec",
    "JobSpec",
    "JobStatus",
    "ObjectMeta",
    "Phase",
    "QiskitJob",
    "Results",
]
