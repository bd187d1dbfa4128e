"""Backend selection: which QiskitBackend a job with `spec.backendSelection` runs on.

Called by validate once the circuit is measured. Pure: the catalogue comes in
as a list. A backend is a candidate when it is not excluded and fits the job
(qubits, primitive, shots); among the operational candidates the first
preferred one wins, else the highest score. A preferred backend that is not
operational is replaced by the best other candidate when `allowFallback`
(default true) lets it, and a job with no operational candidate runs on Qiskit
Aer when `fallbackToSimulator` says so; either is recorded as a fallback, with
the backend first asked for. Otherwise the job is refused, saying why.

Each score is a weighted mean of four parts, each from 0 to 1:
- cost: 1 / (1 + the job's price in dollars): free is 1;
- queue time: 1 / (1 + jobs in its queue);
- capability: the chance the circuit runs without an error, from its median error
  rates ((1 - two-qubit error)^two-qubit gates x (1 - readout error)^qubits); 1 for a
  backend with none published (an ideal simulator);
- availability: 1 when its state is Available, else 0 (only operational backends
  are ranked, so this part matters for ties against a fallback's).
Weights left out count 0.25 each; ties go to the name that sorts first.
"""

from __future__ import annotations

from dataclasses import dataclass

from qiskit_operator.errors import UserError
from qiskit_operator.models.backend import QiskitBackend
from qiskit_operator.models.spec import BackendSelectionSpec, BackendWeights

DEFAULT_WEIGHT = 0.25
SIMULATOR = "aer_simulator"


@dataclass(frozen=True, slots=True)
class Need:
    """What the job needs of a backend."""

    qubits: int
    two_qubit_gates: int
    primitive: str
    shots: int


@dataclass(frozen=True, slots=True)
class Score:
    cost: float
    queue_time: float
    capability: float
    availability: float
    total: float


@dataclass(frozen=True, slots=True)
class Choice:
    family: str
    device: str
    backend: str | None
    """The QiskitBackend's name; None for the simulator fallback outside the catalogue."""
    reason: str
    message: str
    original: str | None = None
    fallback_used: bool = False


def price(backend: QiskitBackend, need: Need) -> float:
    pricing = backend.spec.pricing
    if pricing is None:
        return 0.0
    return (pricing.per_shot or 0.0) * need.shots + (pricing.per_task or 0.0)


def score(backend: QiskitBackend, need: Need, weights: BackendWeights | None) -> Score:
    rates = backend.spec.error_rates
    capability = 1.0
    if rates is not None:
        capability = (1 - (rates.two_qubit_gate or 0.0)) ** need.two_qubit_gates * (
            1 - (rates.readout or 0.0)
        ) ** need.qubits
    queue = backend.status.queue_length if backend.status else None
    parts = {
        "cost": 1 / (1 + price(backend, need)),
        "queue_time": 1 / (1 + (queue or 0)),
        "capability": capability,
        "availability": 1.0 if operational(backend) else 0.0,
    }
    given = weights or BackendWeights()
    weight = {
        name: DEFAULT_WEIGHT if getattr(given, name) is None else float(getattr(given, name))
        for name in parts
    }
    whole = sum(weight.values())
    total = sum(parts[n] * weight[n] for n in parts) / whole if whole > 0 else 0.0
    return Score(total=total, **parts)


def operational(backend: QiskitBackend) -> bool:
    """Declared available, and not found otherwise by the last refresh."""
    state = backend.status.state if backend.status else None
    return backend.spec.availability == "Available" and state in (None, "Available")


def misfit(backend: QiskitBackend, need: Need) -> str | None:
    """Why `backend` cannot run the job at all, or None."""
    spec = backend.spec
    if need.qubits > spec.qubits:
        return f"has {spec.qubits} qubits, the circuit {need.qubits}"
    if need.primitive not in spec.primitives:
        return f"runs no {need.primitive}"
    if need.shots > spec.max_shots:
        return f"runs at most {spec.max_shots} shots"
    return None


def named(backend: QiskitBackend, name: str) -> bool:
    return name in (backend.metadata.name, backend.spec.device)


def select(catalogue: list[QiskitBackend], selection: BackendSelectionSpec, need: Need) -> Choice:
    excluded = selection.excluded_backends or []
    preferred = selection.preferred_backends or []
    candidates = [
        b
        for b in sorted(catalogue, key=lambda b: b.metadata.name)
        if not any(named(b, x) for x in excluded) and misfit(b, need) is None
    ]
    ready = [b for b in candidates if operational(b)]
    for wanted in preferred:
        match = next((b for b in ready if named(b, wanted)), None)
        if match is not None:
            return _chosen(match, "Preferred", f"{wanted} is preferred and available")
    original = preferred[0] if preferred else None
    if original is not None and selection.allow_fallback is False:
        raise UserError(
            f"the preferred backends ({', '.join(preferred)}) cannot run this job now "
            f"({_why_not(catalogue, preferred, need)}) and backendSelection.allowFallback "
            "is false; allow a fallback or wait until one is available",
            reason="NoBackendAvailable",
        )
    if ready:
        best = max(ready, key=lambda b: (score(b, need, selection.weights).total, _neg(b)))
        total = score(best, need, selection.weights).total
        if original is None:
            return _chosen(best, "HighestScore", f"highest score {total:.3f} of {len(ready)}")
        return _chosen(
            best,
            "Fallback",
            f"{original} cannot run it now ({_why_not(catalogue, [original], need)}); "
            f"fell back to {best.metadata.name}, score {total:.3f}",
            original=original,
        )
    if selection.fallback_to_simulator:
        return Choice(
            family="aer",
            device=SIMULATOR,
            backend=None,
            reason="FallbackToSimulator",
            message="no backend of the catalogue can run it now; fell back to Qiskit Aer",
            original=original,
            fallback_used=True,
        )
    raise UserError(
        f"no QiskitBackend can run this job now: {_census(catalogue, excluded, need)}; "
        "apply one (kubectl get qbackend), or set backendSelection.fallbackToSimulator",
        reason="NoBackendAvailable",
    )


def _neg(backend: QiskitBackend) -> tuple[int, ...]:
    # max() with the name as a tie-break that prefers the name sorting first.
    return tuple(-ord(c) for c in backend.metadata.name)


def _chosen(
    backend: QiskitBackend, reason: str, message: str, original: str | None = None
) -> Choice:
    return Choice(
        family=backend.spec.family,
        device=backend.spec.device,
        backend=backend.metadata.name,
        reason=reason,
        message=message,
        original=original,
        fallback_used=original is not None,
    )


def _why_not(catalogue: list[QiskitBackend], names: list[str], need: Need) -> str:
    reasons = []
    for name in names:
        backend = next((b for b in catalogue if named(b, name)), None)
        if backend is None:
            reasons.append(f"{name} is not in the catalogue")
        elif (problem := misfit(backend, need)) is not None:
            reasons.append(f"{name} {problem}")
        elif not operational(backend):
            # Its declaration first: the last refresh may predate a change of it.
            state = backend.spec.availability
            if state == "Available" and backend.status is not None:
                state = backend.status.state or state
            reasons.append(f"{name} is {state}")
    return "; ".join(reasons) or "none fits"


def _census(catalogue: list[QiskitBackend], excluded: list[str], need: Need) -> str:
    if not catalogue:
        return "the cluster has no QiskitBackends"
    names = [b.metadata.name for b in catalogue if not any(named(b, x) for x in excluded)]
    return _why_not(catalogue, names, need) if names else "every backend is excluded"
