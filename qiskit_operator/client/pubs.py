"""One primitive unified bloc (pub) as a QiskitJob to submit, and how to read its answer back.

Called by `Sampler.run` and `Estimator.run`. A QiskitJob holds one circuit, a
flat list of parameter bindings and a flat list of observables; a pub has
arrays of bindings and observables that broadcast against each other. So each
pub becomes one job whose bindings are the pub's, flattened, and whose
observables are the distinct ones of the pub; `PubRequest` remembers which
(binding, observable) pair each element of the pub's shape is, to put the
answer back into the pub's shape (`client.decoding`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qiskit_operator.circuits.serialization import to_qpy
from qiskit_operator.models import API_VERSION

RUN_LABEL = "quantum.io/primitive-run"
"""The label every QiskitJob of one `run()` call carries: the call's job id."""
PUB_ANNOTATION = "quantum.io/pub-index"
Body = dict[str, Any]


@dataclass(frozen=True)
class JobTemplate:
    """What every job of a primitive carries whatever its pubs: where it runs, who pays,
    which session, which seed. `backend` is spec.backend as written (a name is short for
    {name: NAME})."""

    namespace: str = "default"
    backend: Mapping[str, Any] | None = None
    backend_selection: Mapping[str, Any] | None = None
    budget: Mapping[str, Any] | None = None
    session: str | None = None
    seed: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    def manifest(self, name: str, run_id: str, index: int, execution: dict[str, Any]) -> Body:
        spec: dict[str, Any] = {
            "circuit": {},
            "execution": execution,
            # The full result (every shot's outcome, every binding) is what a pub's data
            # is read from: the status keeps only the 16 most frequent outcomes.
            "output": {"type": "configmap", "format": "json"},
        }
        if self.backend is not None:
            spec["backend"] = dict(self.backend)
        if self.backend_selection is not None:
            spec["backendSelection"] = dict(self.backend_selection)
        if self.budget is not None:
            spec["budget"] = dict(self.budget)
        if self.session is not None:
            spec["session"] = {"name": self.session}
        if self.seed is not None:
            execution["seed"] = self.seed
        return {
            "apiVersion": API_VERSION,
            "kind": "QiskitJob",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {**self.labels, RUN_LABEL: run_id},
                "annotations": {PUB_ANNOTATION: str(index)},
            },
            "spec": spec,
        }


@dataclass(frozen=True)
class PubRequest:
    """One pub's job, and where each element of the pub's shape finds its answer."""

    primitive: Literal["sampler", "estimator"]
    manifest: Body
    circuit: QuantumCircuit
    shape: tuple[int, ...]
    binding_index: np.ndarray[Any, np.dtype[np.intp]]
    """Per element of `shape`: the row of execution.parameterValues it ran with."""
    observable_index: np.ndarray[Any, np.dtype[np.intp]] | None = None
    """Estimator, per element of `shape`: its observable in execution.observables."""
    shots: int | None = None
    precision: float | None = None

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])


def sampler_request(
    pub: SamplerPub, template: JobTemplate, name: str, run_id: str, index: int
) -> PubRequest:
    rows, binding_index = _bindings(pub.circuit, pub.parameter_values.as_array, pub.shape)
    shots = int(pub.shots) if pub.shots is not None else 1024
    execution: dict[str, Any] = {"primitive": "sampler", "shots": shots}
    if rows:
        execution["parameterValues"] = rows
    manifest = template.manifest(name, run_id, index, execution)
    manifest["spec"]["circuit"] = _qpy_circuit(pub.circuit)
    return PubRequest(
        "sampler", manifest, pub.circuit, tuple(pub.shape), binding_index, shots=shots
    )


def estimator_request(
    pub: EstimatorPub, template: JobTemplate, name: str, run_id: str, index: int
) -> PubRequest:
    shape = tuple(pub.shape)
    rows, bindings = _bindings(
        pub.circuit, pub.parameter_values.as_array, tuple(pub.parameter_values.shape)
    )
    texts: list[str] = []
    positions: dict[str, int] = {}
    flat = pub.observables.ravel()
    chosen = np.empty(flat.size, dtype=np.intp)
    for i in range(flat.size):
        text = observable_text(flat[i])
        chosen[i] = positions.setdefault(text, len(positions))
        if chosen[i] == len(texts):
            texts.append(text)
    observables = chosen.reshape(pub.observables.shape)
    execution: dict[str, Any] = {"primitive": "estimator", "observables": texts}
    if rows:
        execution["parameterValues"] = rows
    precision = float(pub.precision) if pub.precision is not None else 0.0
    if precision > 0:
        execution["precision"] = precision
    manifest = template.manifest(name, run_id, index, execution)
    manifest["spec"]["circuit"] = _qpy_circuit(pub.circuit)
    return PubRequest(
        "estimator",
        manifest,
        pub.circuit,
        shape,
        np.broadcast_to(bindings, shape),
        observable_index=np.broadcast_to(observables, shape),
        precision=precision,
    )


def observable_text(terms: Mapping[str, float]) -> str:
    """A Pauli sum as execution.observables writes it: `0.5*XX - YY`."""
    parts: list[str] = []
    for pauli, raw in terms.items():
        coefficient = complex(raw)
        if abs(coefficient.imag) > 1e-12:
            raise ValueError(
                f"the observable term {pauli} has the complex coefficient {raw}; an "
                "estimator's observables must be Hermitian, with real coefficients"
            )
        value = coefficient.real
        sign = "-" if value < 0 else "+"
        magnitude = "" if abs(value) == 1 else f"{abs(value)!r}*"
        parts.append(f"{sign} {magnitude}{pauli}")
    if not parts:
        raise ValueError("an observable has no terms; give at least one Pauli string")
    text = " ".join(parts)
    return text[2:] if text.startswith("+ ") else "-" + text[2:]


def _bindings(
    circuit: QuantumCircuit, as_array: Any, shape: tuple[int, ...]
) -> tuple[list[list[float]], np.ndarray[Any, np.dtype[np.intp]]]:
    """The pub's bindings as rows of execution.parameterValues (in the circuit's
    parameter order), and per element of `shape` the row it is."""
    size = int(np.prod(shape, dtype=int))
    if circuit.num_parameters == 0:
        if size != 1:
            raise ValueError(
                f"the circuit has no parameters, but the pub gives it parameter values of "
                f"shape {shape}; give none"
            )
        return [], np.zeros(shape, dtype=np.intp)
    values = np.asarray(as_array(circuit.parameters), dtype=float)
    rows = values.reshape(size, circuit.num_parameters).tolist()
    return rows, np.arange(size, dtype=np.intp).reshape(shape)


def _qpy_circuit(circuit: QuantumCircuit) -> dict[str, str]:
    return {
        "source": "inline",
        "format": "qpy",
        "code": base64.b64encode(to_qpy(circuit)).decode(),
    }
