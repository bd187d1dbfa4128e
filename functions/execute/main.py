"""Entry point of the execute function: runs the validated circuit on Qiskit Aer.

Replies job.completed or job.failed.

Run with functions-framework (`functions-framework --target execute --source main.py`)
or `qop serve execute`. The logic lives in the qiskit_operator library.
"""

import flask
import functions_framework

from qiskit_operator import wiring
from qiskit_operator.serving import FunctionEndpoint
from qiskit_operator.settings import Settings

endpoint = FunctionEndpoint("execute", wiring.executor(Settings.from_env()))


@functions_framework.http
def execute(request: flask.Request) -> flask.Response:
    return endpoint(request)
