"""Entry point of the validate function: loads, checks and measures the circuit.

Replies job.validated or job.rejected. With ENABLE_WEBHOOKS it also answers the
API server's AdmissionReviews for QiskitJobs at POST /admission (docs/admission.md).

Run with functions-framework (`functions-framework --target validate --source main.py`)
or `qop serve validate`. The logic lives in the qiskit_operator library.
"""

import flask
import functions_framework

from qiskit_operator import wiring
from qiskit_operator.admission import AdmissionApi, JobAdmission
from qiskit_operator.auth.verifying import sender_verifier
from qiskit_operator.serving import FunctionEndpoint
from qiskit_operator.settings import Settings
from qiskit_operator.validation_api import ValidationApi

settings = Settings.from_env()
validator = wiring.validator(settings)
api = ValidationApi(validator, max_body_bytes=settings.limits.max_source_bytes + 64 * 1024)
routes = api.routes()
if settings.enable_webhooks:
    routes |= AdmissionApi(JobAdmission(validator)).routes()
endpoint = FunctionEndpoint(
    "validate",
    validator,
    routes=routes,
    metrics_addr=settings.metrics_addr,
    verifier=sender_verifier(settings.auth, "validate"),
    body_routes=api.body_routes(),
)


@functions_framework.http
def validate(request: flask.Request) -> flask.Response:
    return endpoint(request)
