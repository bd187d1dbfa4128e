"""The HTTP API of the original validation service, unchanged for its clients.

`POST /validate` with `{"code", "backend_name", "optimization_level"}` answers
`{valid, circuit_hash, depth, qubits, gates, gate_types,
estimated_execution_time, errors, warnings}` plus this project's fields.
`gates` is the circuit's size (instructions, measurements included), as
Qiskit reports it. Bad requests get a 4xx with a JSON error, never a 500.
Served by the validate function next to its CloudEvent endpoint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal

import flask
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from qiskit_operator import __version__
from qiskit_operator.circuits.report import CircuitReport
from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.models.spec import AerMethod
from qiskit_operator.validating import Validator

log = logging.getLogger(__name__)


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str = Field(description="The circuit: Python, OpenQASM 2 or 3, or base64 QPY.")
    backend_name: str | None = Field(
        None, description="aer_simulator (default), generic_backend_<N>q, or a fake device."
    )
    optimization_level: int = Field(1, ge=0, le=3)
    format: Literal["python", "qasm2", "qasm3", "qpy"] | None = Field(
        None, description="Detected when absent."
    )
    variable: str | None = Field(None, description="Python: the variable holding the circuit.")
    method: AerMethod | None = Field(
        None, description="Aer method; chosen automatically when absent."
    )
    shots: int = Field(1024, ge=1, le=100_000)


class DeviceReport(BaseModel):
    backend: str
    num_qubits: int
    basis_gates: list[str]
    transpiled_depth: int
    transpiled_gate_types: dict[str, int]
    coupling_map_edges: int


class ValidateResponse(BaseModel):
    valid: bool
    circuit_hash: str | None = None
    depth: int | None = None
    qubits: int | None = None
    gates: int | None = Field(None, description="Instruction count, measurements included.")
    gate_types: dict[str, int] | None = None
    estimated_execution_time: float | None = Field(None, description="Seconds, rough.")
    errors: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    format: str | None = None
    variable: str | None = None
    circuits: list[str] | None = None
    clbits: int | None = None
    two_qubit_gates: int | None = None
    parameters: list[str] | None = None
    method: str | None = None
    memory_bytes: int | None = None
    backend: str | None = None
    device: DeviceReport | None = None
    error_line: int | None = None
    reason: str | None = None


class ErrorBody(BaseModel):
    error: str
    details: list[str] | None = None


def response_for(report: CircuitReport) -> ValidateResponse:
    summary = report.summary
    device = report.device
    return ValidateResponse(
        valid=True,
        circuit_hash=summary.hash,
        depth=summary.depth,
        qubits=summary.qubits,
        gates=summary.size,
        gate_types=summary.gate_types,
        estimated_execution_time=report.plan.estimated_seconds,
        warnings=report.warnings,
        format=report.format,
        variable=report.variable,
        circuits=report.circuits,
        clbits=summary.clbits,
        two_qubit_gates=summary.two_qubit_gates,
        parameters=summary.parameters,
        method=report.plan.method,
        memory_bytes=report.plan.memory_bytes,
        backend=report.backend,
        device=DeviceReport(**asdict(device)) if device is not None else None,
    )


def _json(code: int, body: BaseModel) -> flask.Response:
    status, payload = _answer(code, body)
    return flask.Response(payload, status=status, mimetype="application/json")


def _answer(code: int, body: BaseModel) -> tuple[int, bytes]:
    return code, body.model_dump_json(exclude_none=False).encode()


class ValidationApi:
    """The routes the validate function serves besides its CloudEvent endpoint."""

    def __init__(self, validator: Validator, max_body_bytes: int) -> None:
        self.validator = validator
        self.max_body_bytes = max_body_bytes

    def routes(self) -> dict[tuple[str, str], Any]:
        return {("POST", "/validate"): self.validate, ("GET", "/openapi.json"): self.openapi}

    def body_routes(self) -> dict[tuple[str, str], Callable[[bytes], tuple[int, bytes]]]:
        """The same API as bytes in, (status, JSON bytes) out: what `qop serve` calls
        without Flask (serving.FunctionEndpoint.answer_body)."""
        return {("POST", "/validate"): self.answer}

    def validate(self, request: flask.Request) -> flask.Response:
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            return _json(413, ErrorBody(error=f"the body is over {self.max_body_bytes} bytes"))
        status, payload = self.answer(request.stream.read(self.max_body_bytes + 1))
        return flask.Response(payload, status=status, mimetype="application/json")

    def answer(self, body: bytes) -> tuple[int, bytes]:
        """`POST /validate` of `body`: its status and JSON answer."""
        if len(body) > self.max_body_bytes:
            return _answer(413, ErrorBody(error=f"the body is over {self.max_body_bytes} bytes"))
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            return _answer(400, ErrorBody(error=f"the body is not JSON: {error}"))
        except RecursionError:
            return _answer(400, ErrorBody(error="the body's JSON is nested too deeply"))
        try:
            parsed = ValidateRequest.model_validate(payload)
        except pydantic.ValidationError as error:
            details = [
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()
            ]
            return _answer(
                422, ErrorBody(error="the request does not match the API", details=details)
            )
        try:
            report = self.validator.inspect(
                parsed.code,
                parsed.format,
                variable=parsed.variable,
                backend=parsed.backend_name,
                method=parsed.method,
                optimization_level=parsed.optimization_level,
                shots=parsed.shots,
            )
        except UserError as error:
            return _answer(
                200,
                ValidateResponse(
                    valid=False, errors=[error.message], error_line=error.line, reason=error.reason
                ),
            )
        except TransientError as error:
            return _answer(503, ErrorBody(error=error.message))
        except Exception:
            # A bug, not bad input: logged with its trace, answered without one.
            log.exception("validate failed on a request of %d bytes", len(body))
            return _answer(500, ErrorBody(error="validation failed unexpectedly; see the log"))
        return _answer(200, response_for(report))

    def openapi(self, request: flask.Request) -> flask.Response:
        return flask.Response(json.dumps(openapi_document()), mimetype="application/json")


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 for the HTTP API, with schemas taken from the models above."""
    schemas: dict[str, Any] = {}
    for model in (ValidateRequest, ValidateResponse, ErrorBody):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema

    def ref(name: str) -> dict[str, Any]:
        return {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}
        }

    health = {
        "type": "object",
        "properties": {
            "status": {"type": "string"},
            "timestamp": {"type": "string"},
            "version": {"type": "string"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "qiskit-operator validate", "version": __version__},
        "paths": {
            "/validate": {
                "post": {
                    "summary": "Validate a circuit and measure it",
                    "requestBody": {"required": True, **ref("ValidateRequest")},
                    "responses": {
                        "200": {
                            "description": "Validated (valid may be false)",
                            **ref("ValidateResponse"),
                        },
                        "400": {"description": "Not JSON", **ref("ErrorBody")},
                        "413": {"description": "Body too large", **ref("ErrorBody")},
                        "422": {"description": "Wrong fields or types", **ref("ErrorBody")},
                        "503": {"description": "Busy; retry", **ref("ErrorBody")},
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness",
                    "responses": {
                        "200": {
                            "description": "Alive",
                            "content": {"application/json": {"schema": health}},
                        }
                    },
                }
            },
            "/ready": {
                "get": {
                    "summary": "Readiness: 200 once the sandbox is warm",
                    "responses": {
                        "200": {"description": "Ready"},
                        "503": {"description": "Warming up"},
                    },
                }
            },
        },
        "components": {"schemas": schemas},
    }
