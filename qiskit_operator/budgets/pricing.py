"""A job's cost from its backend's price and its workload.

Validate calls `price_for` (the QiskitBackend that offers the job's backend) and
`estimate` before the job runs; execute calls `actual` with what the run used.
A price bills shots (shots x circuits x parameter sets), seconds (a device's
time, or a simulator's CPU-seconds) and a fee per task; a backend with no
QiskitBackend, or one without `pricing`, costs nothing. Amounts are US dollars
(QiskitBackend prices are), rounded to a millionth.
"""

from __future__ import annotations

from qiskit_operator.events.payloads import Cost, ExecutionRequest, Price
from qiskit_operator.models.backend import QiskitBackend

FREE = Cost(amount=0.0)
SECONDS_PER_SHOT = 1e-4
"""What a job with no time limit is expected to use per shot, for a price per second:
Aer samples a small circuit at about ten thousand shots a second."""


def price_for(catalogue: list[QiskitBackend], family: str, device: str) -> Price | None:
    """The price of the backend `family`/`device` as the catalogue offers it; None when
    no QiskitBackend offers it or the one that does names no price."""
    for backend in sorted(catalogue, key=lambda b: b.metadata.name):
        spec = backend.spec
        if spec.family != family or spec.device != device or spec.pricing is None:
            continue
        pricing = spec.pricing
        return Price(
            backend=backend.metadata.name,
            per_shot=pricing.per_shot or 0.0,
            per_second=pricing.per_second or 0.0,
            per_task=pricing.per_task or 0.0,
        )
    return None


def executions(request: ExecutionRequest) -> int:
    """Circuit executions the job asks for: one per parameter set of a sweep (one circuit)."""
    return max(1, len(request.parameter_values))


def estimated_seconds(request: ExecutionRequest, seconds_per_shot: float) -> float:
    """The seconds a job is expected to use: its own time limit when it sets one (it can
    use no more), else `seconds_per_shot` for each shot of each execution."""
    if request.max_execution_seconds is not None:
        return request.max_execution_seconds
    return request.shots * executions(request) * seconds_per_shot


def estimate(request: ExecutionRequest, seconds_per_shot: float) -> Cost:
    """What the job will cost, before it runs."""
    return _cost(request, estimated_seconds(request, seconds_per_shot))


def actual(request: ExecutionRequest, seconds: float) -> Cost:
    """What the job cost, having used `seconds` of its backend."""
    return _cost(request, seconds)


def _cost(request: ExecutionRequest, seconds: float) -> Cost:
    price = request.price
    if price is None:
        return FREE
    shots = request.shots * executions(request)
    amount = price.per_task + price.per_shot * shots + price.per_second * max(0.0, seconds)
    return Cost(amount=round(amount, 6), currency=price.currency)
