"""Entry point of the validate function: loads, checks and measures the circuit.

Replies job.validated or job.rejected.

Run with functions-framework (`functions-framework --target validate --source main.py`)
or `qop serve validate`. The logic lives in the qiskit_operator library.
"""

import flask
import functions_framework

from qiskit_operator import wiring
from qiskit_operator.serving import FunctionEndpoint
from qiskit_operator.settings import Settings

endpoint = FunctionEndpoint("validate", wiring.validator(Settings.from_env()))


@functions_framework.http
def validate(request: flask.Request) -> flask.Response:
    return endpoint(request)
