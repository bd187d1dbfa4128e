"""Entry point of the reconcile function: the only writer of job status; replies job.finished.

Run with functions-framework (`functions-framework --target reconcile --source main.py`)
or `qop serve reconcile`. The logic lives in the qiskit_operator library.
"""

import flask
import functions_framework

from qiskit_operator import wiring
from qiskit_operator.auth.verifying import sender_verifier
from qiskit_operator.serving import FunctionEndpoint
from qiskit_operator.settings import Settings

settings = Settings.from_env()
reconciler = wiring.reconciler(settings)
# The Triggers' dead-letter sink: what Knative could not deliver fails its job.
endpoint = FunctionEndpoint(
    "reconcile",
    reconciler,
    event_routes={"/dead-letter": reconciler.handle_dead_letter},
    metrics_addr=settings.metrics_addr,
    verifier=sender_verifier(settings.auth, "reconcile"),
)


@functions_framework.http
def reconcile(request: flask.Request) -> flask.Response:
    return endpoint(request)
