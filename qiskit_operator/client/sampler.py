"""`Sampler`: Qiskit's SamplerV2 interface, each pub run as a QiskitJob.

sampler = Sampler(namespace="team-a")          # or Sampler(local=True)
counts = sampler.run([bell]).result()[0].data.meas.get_counts()
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from qiskit.primitives import BaseSamplerV2
from qiskit.primitives.containers.sampler_pub import SamplerPub, SamplerPubLike

from qiskit_operator.client.job import OperatorJob
from qiskit_operator.client.primitive import OperatorPrimitive
from qiskit_operator.client.pubs import sampler_request


class Sampler(OperatorPrimitive, BaseSamplerV2):  # type: ignore[misc]
    """Runs pubs (circuit, parameter values, shots) on the operator; `default_shots`
    for pubs that name none (Qiskit's own default, 1024). Takes the keyword arguments
    of `OperatorPrimitive`: namespace, backend, backend_selection, budget, session,
    context, kubeconfig, local, seed, timeout, labels."""

    kind = "sampler"

    def __init__(self, *, default_shots: int = 1024, **options: Any) -> None:
        super().__init__(**options)
        self.default_shots = default_shots

    def run(self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None) -> OperatorJob:
        chosen = self.default_shots if shots is None else shots
        coerced = [SamplerPub.coerce(pub, chosen) for pub in pubs]
        for pub in coerced:
            if pub.circuit.num_clbits == 0:
                raise ValueError(
                    "a sampler pub's circuit measures nothing, so there is nothing to "
                    "sample; add measurements (e.g. circuit.measure_all())"
                )

        return self._submit([partial(sampler_request, pub, self.template) for pub in coerced])
