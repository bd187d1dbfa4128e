"""`Estimator`: Qiskit's EstimatorV2 interface, each pub run as a QiskitJob.

estimator = Estimator(namespace="team-a")      # or Estimator(local=True)
evs = estimator.run([(bell, ["ZZ", "XX"])]).result()[0].data.evs
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from qiskit.primitives import BaseEstimatorV2
from qiskit.primitives.containers.estimator_pub import EstimatorPub, EstimatorPubLike

from qiskit_operator.client.job import OperatorJob
from qiskit_operator.client.primitive import OperatorPrimitive
from qiskit_operator.client.pubs import estimator_request


class Estimator(OperatorPrimitive, BaseEstimatorV2):  # type: ignore[misc]
    """Runs pubs (circuit, observables, parameter values, precision) on the operator;
    `default_precision` for pubs that name none (0: exact, as Qiskit's
    StatevectorEstimator). Takes the keyword arguments of `OperatorPrimitive`."""

    kind = "estimator"

    def __init__(self, *, default_precision: float = 0.0, **options: Any) -> None:
        super().__init__(**options)
        self.default_precision = default_precision

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> OperatorJob:
        chosen = self.default_precision if precision is None else precision
        coerced = [EstimatorPub.coerce(pub, chosen) for pub in pubs]
        for pub in coerced:
            pub.validate()

        return self._submit([partial(estimator_request, pub, self.template) for pub in coerced])
