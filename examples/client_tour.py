"""The client tour: a Bell sampler, a sweep and an estimator through qiskit_operator.client,
each held against Qiskit's own primitives.

    python examples/client_tour.py --local          # no cluster: the embedded pipeline
    python examples/client_tour.py -n default       # the cluster of your kubeconfig

Only `qiskit` and `qiskit_operator.client` are used, as in a notebook.
"""

from __future__ import annotations

import argparse

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives import StatevectorEstimator, StatevectorSampler

from qiskit_operator.client import Estimator, Sampler

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--local", action="store_true", help="run without a cluster")
parser.add_argument("-n", "--namespace", default="default")
args = parser.parse_args()
where = {"local": True} if args.local else {"namespace": args.namespace, "timeout": 300}

bell = QuantumCircuit(2)
bell.h(0)
bell.cx(0, 1)
bell.measure_all()

theta = Parameter("theta")
ry = QuantumCircuit(1)
ry.ry(theta, 0)
ry.measure_all()
angles = np.linspace(0, np.pi, 5)[:, None]

with Sampler(seed=7, **where) as sampler:  # type: ignore[arg-type]
    ours = sampler.run([bell, (ry, angles)], shots=4000).result()
theirs = StatevectorSampler(seed=7).run([bell, (ry, angles)], shots=4000).result()

counts = ours[0].data.meas.get_counts()
print("bell counts:", counts, "(Qiskit:", theirs[0].data.meas.get_counts(), ")")
assert set(counts) == {"00", "11"} and abs(counts["00"] / 4000 - 0.5) < 0.05

ones = [ours[1].data.meas[i].get_counts().get("1", 0) / 4000 for i in range(5)]
expected = np.sin(angles[:, 0] / 2) ** 2
print("sweep P(1):", np.round(ones, 3), "expected:", np.round(expected, 3))
assert np.allclose(ones, expected, atol=0.05)
assert ours[1].data.meas.shape == theirs[1].data.meas.shape == (5,)

unmeasured = bell.remove_final_measurements(inplace=False)
pub = (unmeasured, ["ZZ", "XX", "YY", "ZI"])
with Estimator(**where) as estimator:  # type: ignore[arg-type]
    evs = estimator.run([pub]).result()[0].data.evs
reference = StatevectorEstimator().run([pub]).result()[0].data.evs
print("estimator:", evs, "(Qiskit:", reference, ")")
assert np.allclose(evs, reference, atol=1e-9)
print("all match Qiskit's own primitives")
