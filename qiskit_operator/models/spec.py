"""The desired state of a QiskitJob: what the user writes under `spec:`.

Field names follow the original Qiskit Operator's QiskitJob so its manifests
keep working; the primitive, observables, sweep and seed fields follow what
users of Qiskit Runtime expect.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field

from qiskit_operator.models.base import ResourceModel
from qiskit_operator.models.rules import Rule

BackendType = Literal["local_simulator", "ibm_quantum", "ibm_simulator", "aws_braket"]
AerMethod = Literal[
    "automatic",
    "statevector",
    "density_matrix",
    "matrix_product_state",
    "stabilizer",
    "extended_stabilizer",
    "unitary",
]
CircuitSource = Literal["inline", "configmap", "url", "git"]
CircuitFormat = Literal["python", "qasm2", "qasm3", "qpy"]


class BackendSpec(ResourceModel):
    """Where the circuit runs. Only `local_simulator` (Qiskit Aer) runs today."""

    type: BackendType = Field(
        "local_simulator", description="Backend kind; local_simulator runs on Qiskit Aer."
    )
    name: str | None = Field(None, description="A specific backend, e.g. aer_simulator.")
    method: AerMethod | None = Field(
        None, description="Aer simulation method; chosen automatically when absent."
    )
    noise_model: str | None = Field(
        None,
        description="Simulate the noise of a device-like backend, e.g. generic_backend_5q "
        "(readout error included).",
    )
    instance: str | None = Field(None, description="IBM Cloud instance CRN (compatibility).")
    hub: str | None = Field(None, description="IBM Quantum hub (compatibility).")
    group: str | None = Field(None, description="IBM Quantum group (compatibility).")
    project: str | None = Field(None, description="IBM Quantum project (compatibility).")


class ConfigMapRef(ResourceModel):
    name: str = Field(description="ConfigMap in the job's namespace.")
    key: str = Field(description="Key of the ConfigMap that holds the circuit.")


class GitRef(ResourceModel):
    repository: str
    branch: str | None = None
    path: str


class CircuitSpec(ResourceModel):
    """The circuit: its source, its format, and which variable holds it."""

    source: CircuitSource = Field("inline", description="Where the circuit comes from.")
    format: CircuitFormat | None = Field(
        None, description="python, qasm2, qasm3 or qpy (base64); detected when absent."
    )
    code: str | None = Field(None, description="The circuit itself when source is inline.")
    config_map_ref: ConfigMapRef | None = Field(None, description="Used when source is configmap.")
    url: str | None = Field(None, description="Used when source is url.")
    git_ref: GitRef | None = Field(None, description="Accepted for compatibility; refused.")
    variable: str | None = Field(
        None, description="Python only: the variable that holds the circuit to run."
    )

    rules: ClassVar[tuple[Rule[CircuitSpec], ...]] = (
        Rule(
            lambda c: c.source != "inline" or c.code is not None,
            # source defaults to inline, so an absent source asks for code too.
            cel="has(self.code) || (has(self.source) && self.source != 'inline')",
            message="circuit.source is inline, so circuit.code is required",
            reason="FieldValueRequired",
            field="code",
        ),
        Rule(
            lambda c: c.source != "configmap" or c.config_map_ref is not None,
            cel="!has(self.source) || self.source != 'configmap' || has(self.configMapRef)",
            message="circuit.source is configmap, so circuit.configMapRef is required",
            reason="FieldValueRequired",
            field="configMapRef",
        ),
        Rule(
            lambda c: c.source != "url" or c.url is not None,
            cel="!has(self.source) || self.source != 'url' || has(self.url)",
            message="circuit.source is url, so circuit.url is required",
            reason="FieldValueRequired",
            field="url",
        ),
    )


class ExecutionSpec(ResourceModel):
    """How to run: shots, transpilation, seed, primitive and its inputs."""

    shots: int = Field(1024, ge=1, le=100_000, description="Number of shots.")
    optimization_level: int = Field(1, ge=0, le=3, description="Transpiler optimization level.")
    resilience_level: int | None = Field(None, ge=0, le=2, description="Compatibility; unused.")
    seed: int | None = Field(None, ge=0, description="Simulator seed, for reproducible counts.")
    max_execution_time: str | None = Field(
        None, description="Time limit for the simulation, e.g. 30s, 5m, 1h."
    )
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    primitive: Literal["sampler", "estimator"] = Field(
        "sampler", description="sampler gives counts; estimator gives expectation values."
    )
    observables: list[str] | None = Field(
        None, description="Estimator only: Pauli strings, optionally with a coefficient."
    )
    parameter_values: list[list[float]] | None = Field(
        None, description="One row of parameter values per binding of a parameterized circuit."
    )
    precision: float | None = Field(None, gt=0, description="Estimator target precision.")
    disable_fallback: bool | None = None

    # The same words as the pipeline's checks of the execution spec (validating.py).
    rules: ClassVar[tuple[Rule[ExecutionSpec], ...]] = (
        Rule(
            lambda e: not e.observables or e.primitive == "estimator",
            cel="!has(self.observables) || size(self.observables) == 0 "
            "|| (has(self.primitive) && self.primitive == 'estimator')",
            message="execution.observables are for the estimator; set "
            "execution.primitive: estimator or remove them",
            reason="FieldValueForbidden",
            field="observables",
        ),
        Rule(
            lambda e: e.primitive != "estimator" or bool(e.observables),
            cel="!has(self.primitive) || self.primitive != 'estimator' "
            "|| (has(self.observables) && size(self.observables) > 0)",
            message="execution.primitive is estimator, so execution.observables is "
            "required (e.g. [ZZ, XX])",
            reason="FieldValueRequired",
            field="observables",
        ),
        Rule(
            lambda e: len({len(row) for row in e.parameter_values or []}) <= 1,
            cel="self.all(row, size(row) == size(self[0]))",
            message="every row of execution.parameterValues needs the same number of "
            "values: one per parameter of the circuit, in its parameter order",
            field="parameterValues",
            on_field=True,
        ),
    )


class BudgetSpec(ResourceModel):
    """The QiskitBudget the job is charged to (docs/budgets.md)."""

    name: str | None = Field(
        None, description="A QiskitBudget in the job's namespace; absent: the one for costCenter."
    )
    max_cost: str | None = Field(None, description='Most this job may cost, e.g. "$10.00".')
    cost_center: str | None = Field(
        None, description="Charged to the namespace's QiskitBudget with this costCenter."
    )
    billing_account: str | None = None


# A result file's path under the job's own directory of the results volume: relative,
# segments of letters, digits and ._- only, none of them "..". The same words go to
# the API server as CEL, so `kubectl apply` refuses an escaping path before any run.
OUTPUT_PATH_PATTERN = r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$"
_PARENT_SEGMENT = r"(^|/)[.][.](/|$)"
# A ConfigMap's name (RFC 1123 subdomain): never a namespace, never a path.
OBJECT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
OUTPUT_PATH_MESSAGE = (
    "output.path must be a relative path inside the job's own results directory: "
    "letters, digits and ._- separated by single '/', not starting with '/' and with "
    "no '..' (e.g. runs/bell.json)"
)
OUTPUT_LOCATION_MESSAGE = (
    "output.location must be the name of an object in the job's own namespace: "
    "lower-case letters, digits, '-' and '.', at most 253 characters (e.g. bell-results); "
    "it cannot name a namespace or a path"
)


# A duration as durations.parse_duration reads it, more than zero: 30s, 1h30m, 7d, 3600.
DURATION_PATTERN = r"^([0-9]+([.][0-9]+)?(ms|s|m|h|d))+$|^[0-9]+([.][0-9]+)?$"
RETENTION_MESSAGE = (
    "output.retention must be a duration such as 30m, 24h or 7d: how long after the job "
    "finished it is deleted with its results"
)


def duration_holds(text: str) -> bool:
    """Whether `text` is such a duration; one nonzero digit makes it more than zero."""
    return re.search(DURATION_PATTERN, text) is not None and re.search("[1-9]", text) is not None


def output_path_holds(path: str | None) -> bool:
    """Whether `path` stays inside the job's results directory (see OUTPUT_PATH_PATTERN)."""
    return path is None or (
        re.fullmatch(OUTPUT_PATH_PATTERN, path) is not None
        and re.search(_PARENT_SEGMENT, path) is None
    )


PREFIX_PATTERN = r"^/?[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/?$"


def prefix_holds(prefix: str | None) -> bool:
    """Whether an S3 key prefix is relative segments with no '..' (one '/' either side
    allowed)."""
    return not prefix or (
        re.fullmatch(PREFIX_PATTERN, prefix) is not None
        and re.search(_PARENT_SEGMENT, prefix) is None
    )


def object_name_holds(name: str | None) -> bool:
    return name is None or (
        len(name) <= 253 and re.fullmatch(OBJECT_NAME_PATTERN, name) is not None
    )


# An S3 bucket's name as S3 and its compatible servers accept it.
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
OUTPUT_BUCKET_MESSAGE = (
    "output.bucket must be an S3 bucket name: 3 to 63 lower-case letters, digits, '.' and "
    "'-', starting and ending with a letter or digit (e.g. quantum-results)"
)
OUTPUT_PREFIX_MESSAGE = (
    "output.prefix must be a relative key prefix: letters, digits and ._- separated by "
    "single '/', with no '..' (e.g. team-a/runs)"
)
OUTPUT_S3_MESSAGE = "output.type is s3, so output.bucket is required (e.g. quantum-results)"
OUTPUT_ELSEWHERE_MESSAGE = (
    "output.type gcs and azure_blob are not supported; use output.type: s3 with "
    "output.endpoint set to the store's S3-compatible endpoint (Google Cloud Storage: "
    "https://storage.googleapis.com with HMAC keys; Azure Blob: an S3 gateway such as "
    "versitygw's azure backend), or configmap or pvc (docs/storage.md)"
)
ENDPOINT_PATTERN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$"
OUTPUT_ENDPOINT_MESSAGE = (
    "output.endpoint must be an S3 endpoint URL: http(s)://host[:port] with no path "
    "(e.g. https://s3.eu-west-1.amazonaws.com)"
)


class OutputSpec(ResourceModel):
    """Where the full result goes; status keeps a summary either way. configmap and pvc
    stay in the job's namespace: its ConfigMaps, and its own directory of the results
    volume; s3 is an object in a bucket under `<prefix>/<namespace>/` (docs/storage.md)."""

    type: Literal["configmap", "pvc", "s3", "gcs", "azure_blob"] = Field(
        "configmap",
        description="configmap (owned by the job), pvc (a file on the volume) or s3 (an "
        "object in an S3-compatible bucket); gcs and azure_blob are refused: use s3 with "
        "their S3-compatible endpoint.",
    )
    bucket: str | None = Field(None, description="s3: the bucket the result is written to.")
    prefix: str | None = Field(
        None,
        description="s3: key prefix; the object is <prefix>/<namespace>/<job>-<uid>-g<gen>."
        "<format>, or <prefix>/<namespace>/<path> with output.path.",
    )
    endpoint: str | None = Field(
        None,
        description="s3: the S3-compatible endpoint, http(s)://host[:port]; one the cluster "
        "allows (QOP_S3_ENDPOINTS), its first when absent.",
    )
    region: str | None = Field(None, description="s3: the signing region (QOP_S3_REGION).")
    credentials_secret: str | None = Field(
        None,
        description="s3: Secret in the job's namespace with keys accessKeyId and "
        "secretAccessKey; default qiskit-s3-credentials.",
    )
    location: str | None = Field(
        None,
        description="ConfigMap name in the job's namespace (default <job>-results), or the "
        "PVC's claim name.",
    )
    path: str | None = Field(
        None,
        description="pvc: the file's path under the job's namespace's directory of the "
        "volume; relative, no '..'.",
    )
    format: Literal["json", "csv"] = "json"
    retention: str | None = Field(
        None,
        description="How long after it finished the job is deleted with its results, e.g. "
        "24h or 7d; spec.ttlSecondsAfterFinished, when set, wins (docs/retention.md).",
    )

    rules: ClassVar[tuple[Rule[OutputSpec], ...]] = (
        Rule(
            lambda o: o.type not in ("gcs", "azure_blob"),
            cel="!has(self.type) || (self.type != 'gcs' && self.type != 'azure_blob')",
            message=OUTPUT_ELSEWHERE_MESSAGE,
            reason="FieldValueForbidden",
            field="type",
        ),
        Rule(
            lambda o: o.type != "s3" or o.bucket is not None,
            cel="!has(self.type) || self.type != 's3' || has(self.bucket)",
            message=OUTPUT_S3_MESSAGE,
            reason="FieldValueRequired",
            field="bucket",
        ),
        Rule(
            lambda o: o.bucket is None or re.fullmatch(BUCKET_PATTERN, o.bucket) is not None,
            cel=f"!has(self.bucket) || self.bucket.matches('{BUCKET_PATTERN}')",
            message=OUTPUT_BUCKET_MESSAGE,
            field="bucket",
        ),
        Rule(
            lambda o: prefix_holds(o.prefix),
            cel=f"!has(self.prefix) || self.prefix == '' "
            f"|| (self.prefix.matches('{PREFIX_PATTERN}') "
            f"&& !self.prefix.matches('{_PARENT_SEGMENT}'))",
            message=OUTPUT_PREFIX_MESSAGE,
            field="prefix",
        ),
        Rule(
            lambda o: o.endpoint is None or re.fullmatch(ENDPOINT_PATTERN, o.endpoint) is not None,
            cel=f"!has(self.endpoint) || self.endpoint.matches('{ENDPOINT_PATTERN}')",
            message=OUTPUT_ENDPOINT_MESSAGE,
            field="endpoint",
        ),
        Rule(
            lambda o: object_name_holds(o.credentials_secret),
            cel=f"!has(self.credentialsSecret) || (size(self.credentialsSecret) <= 253 "
            f"&& self.credentialsSecret.matches('{OBJECT_NAME_PATTERN}'))",
            message="output.credentialsSecret must be the name of a Secret in the job's "
            "namespace (lower-case letters, digits, '-' and '.')",
            field="credentialsSecret",
        ),
        Rule(
            lambda o: o.retention is None or duration_holds(o.retention),
            cel=f"!has(self.retention) || (self.retention.matches('{DURATION_PATTERN}') "
            "&& self.retention.matches('[1-9]'))",
            message=RETENTION_MESSAGE,
            field="retention",
        ),
        Rule(
            lambda o: output_path_holds(o.path),
            cel=f"!has(self.path) || (self.path.matches('{OUTPUT_PATH_PATTERN}') "
            f"&& !self.path.matches('{_PARENT_SEGMENT}'))",
            message=OUTPUT_PATH_MESSAGE,
            field="path",
        ),
        Rule(
            lambda o: object_name_holds(o.location),
            cel=f"!has(self.location) || (size(self.location) <= 253 "
            f"&& self.location.matches('{OBJECT_NAME_PATTERN}'))",
            message=OUTPUT_LOCATION_MESSAGE,
            field="location",
        ),
    )


class SecretRef(ResourceModel):
    name: str
    namespace: str | None = None


class CredentialsSpec(ResourceModel):
    secret_ref: SecretRef | None = None
    vault_path: str | None = None


class BackendWeights(ResourceModel):
    cost: float | None = Field(None, ge=0, le=1)
    queue_time: float | None = Field(None, ge=0, le=1)
    capability: float | None = Field(None, ge=0, le=1)
    availability: float | None = Field(None, ge=0, le=1)


class BackendSelectionSpec(ResourceModel):
    weights: BackendWeights | None = None
    preferred_backends: list[str] | None = None
    excluded_backends: list[str] | None = None
    allow_fallback: bool | None = None
    fallback_to_simulator: bool | None = None


class SessionSpec(ResourceModel):
    name: str | None = None
    max_time: int | None = Field(None, ge=1)
    mode: Literal["dedicated", "batch"] | None = None


class JobSpec(ResourceModel):
    """spec of a QiskitJob."""

    # The explicit {} defaults let the API server fill in the nested defaults
    # (shots, optimizationLevel, ...) even when the section is left out.
    backend: BackendSpec = Field(
        default_factory=BackendSpec,
        json_schema_extra={"default": {}},
        description="Where the circuit runs.",
    )
    circuit: CircuitSpec = Field(description="The circuit to run.")
    execution: ExecutionSpec = Field(
        default_factory=ExecutionSpec,
        json_schema_extra={"default": {}},
        description="How to run it: shots, transpilation, seed, primitive.",
    )
    session: SessionSpec | None = None
    budget: BudgetSpec | None = None
    output: OutputSpec | None = None
    credentials: CredentialsSpec | None = None
    backend_selection: BackendSelectionSpec | None = None
    cancel: bool | None = Field(
        None,
        description="true stops the job wherever it is (a simulation is killed, a provider "
        "job cancelled) and ends it Cancelled; what already finished is kept.",
    )
    ttl_seconds_after_finished: int | None = Field(
        None,
        ge=0,
        description="Seconds after the job finished (Completed or Failed) when it is deleted, "
        "with the ConfigMaps and result files it produced, as on a Kubernetes Job; 0: at "
        "once. Unset: output.retention, else the cluster's QOP_JOB_TTL_SECONDS, else kept.",
    )
