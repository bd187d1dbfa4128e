"""Entry point of the execute function: runs the validated circuit on Qiskit Aer.

Replies job.completed or job.failed. On a QiskitJob's delete event it removes the
result files it wrote for that job, and replies nothing (docs/retention.md).

Run with functions-framework (`functions-framework --target execute --source main.py`)
or `qop serve execute`. The logic lives in the qiskit_operator library.
"""

import flask
import functions_framework

from qiskit_operator import wiring
from qiskit_operator.auth.verifying import sender_verifier
from qiskit_operator.serving import FunctionEndpoint
from qiskit_operator.settings import Settings

settings = Settings.from_env()
endpoint = FunctionEndpoint(
    "execute",
    wiring.executor(settings),
    metrics_addr=settings.metrics_addr,
    verifier=sender_verifier(settings.auth, "execute"),
)


@functions_framework.http
def execute(request: flask.Request) -> flask.Response:
    return endpoint(request)
