"""qiskit-operator: quantum circuits as Kubernetes custom resources.

The library behind the three Knative functions (validate, execute, reconcile)
and the `qop` command that runs the same pipeline on one machine.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qiskit-operator")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
