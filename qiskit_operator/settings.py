"""All settings of the functions and the local runner, read from the environment once.

Every setting has a documented default; the README's table lists them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qiskit_operator import package_files
from qiskit_operator.circuits.declarations import SizeLimits
from qiskit_operator.errors import UserError


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    warm_children: int = 2
    """Children forked ahead of time (QOP_SANDBOX_WARM)."""
    cpu_seconds: int = 10
    """CPU time one circuit program may use (QOP_SANDBOX_CPU_SECONDS)."""
    memory_bytes: int = 1 << 30
    """Memory one circuit program may allocate (QOP_SANDBOX_MEMORY_MB, in MiB)."""
    timeout_seconds: float = 15.0
    """Wall time one circuit program may take (QOP_SANDBOX_TIMEOUT_SECONDS)."""
    max_qpy_bytes: int = 16 << 20
    """Largest circuit (as QPY) a program may build; bounds what the server reads from a
    child (QOP_SANDBOX_MAX_QPY_MB, in MiB)."""
    python_guard: bool = True
    """The Python guard in children (QOP_SANDBOX_PYTHON_GUARD=off switches it off): for
    tests that prove the kernel's confinement holds alone, never for a service."""
    require_isolation: bool = False
    """Refuse to start validate and execute unless the kernel confines untrusted code
    with Landlock, seccomp and resource limits (QOP_REQUIRE_ISOLATION)."""


@dataclass(frozen=True, slots=True)
class LimitSettings:
    max_source_bytes: int = 1 << 20
    """Largest circuit source accepted, in bytes (QOP_MAX_SOURCE_BYTES)."""
    max_qubits: int = 64
    """Most qubits a circuit may have (QOP_MAX_QUBITS)."""
    max_clbits: int = 1024
    """Most classical bits a circuit may have (QOP_MAX_CLBITS)."""
    max_depth: int = 100_000
    """Deepest circuit accepted (QOP_MAX_DEPTH)."""
    max_circuits: int = 32
    """Most circuits one Python program may build (QOP_MAX_CIRCUITS)."""
    max_instructions: int = 1_000_000
    """Most instructions a circuit may unroll to, gate definitions and loops expanded
    (QOP_MAX_INSTRUCTIONS)."""
    max_nesting: int = 64
    """Most levels of gate definitions and control flow inside one another (QOP_MAX_NESTING)."""
    simulation_memory_bytes: int = 2 << 30
    """Memory a simulation may use; bigger states are refused before running
    (QOP_SIMULATION_MEMORY_MB, in MiB)."""
    simulation_timeout_seconds: float = 570.0
    """Wall time a simulation without execution.maxExecutionTime may take where every run
    is confined, and any noisy one (QOP_SIMULATION_TIMEOUT_SECONDS); under execute's
    600 s Knative timeout."""
    max_noise_model_qubits: int = 32
    """Largest backend whose noise model is built (QOP_MAX_NOISE_MODEL_QUBITS): its cost
    grows with the square of the qubits, about 10 s and 140 MiB at 33, 81 s and 1.5 GiB
    at 127."""

    def sizes(self, circuits: int | None = None) -> SizeLimits:
        """What a circuit may declare and unroll to, checked while it is read (`declarations`,
        `expansion`); `circuits` overrides how many one source may hold."""
        return SizeLimits(
            max_qubits=self.max_qubits,
            max_clbits=self.max_clbits,
            max_circuits=self.max_circuits if circuits is None else circuits,
            max_instructions=self.max_instructions,
            max_nesting=self.max_nesting,
        )


@dataclass(frozen=True, slots=True)
class UrlSettings:
    allow_http: bool = False
    """Allow http:// circuit URLs, not only https:// (QOP_URL_ALLOW_HTTP)."""
    allow_private: bool = False
    """Allow URLs that resolve to loopback or private addresses (QOP_URL_ALLOW_PRIVATE)."""
    allowed_hosts: frozenset[str] = frozenset()
    """host or host:port always allowed, comma-separated (QOP_URL_ALLOWED_HOSTS)."""
    timeout_seconds: float = 10.0
    """Time to fetch a circuit URL (QOP_URL_TIMEOUT_SECONDS)."""


@dataclass(frozen=True, slots=True)
class ObjectStorageSettings:
    """Where execute may put results of `output.type: s3` (docs/storage.md)."""

    endpoints: tuple[str, ...] = ("https://s3.amazonaws.com",)
    """S3 endpoints jobs may name as output.endpoint, comma-separated; the first is the
    default (QOP_S3_ENDPOINTS). Execute talks to no other."""
    region: str = "us-east-1"
    """Signing region when a job sets no output.region (QOP_S3_REGION)."""
    attempts: int = 4
    """Tries of one upload before the job fails (or is retried) saying why (QOP_S3_ATTEMPTS)."""
    timeout_seconds: float = 30.0
    """Time one S3 request may take (QOP_S3_TIMEOUT_SECONDS)."""


_SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Who may send events to a function (auth/, Knative's OIDC sender identity)."""

    audience: str = ""
    """The audience senders' tokens must be for (QOP_AUTH_AUDIENCE); set, every
    CloudEvent must carry a valid token; empty, events are believed (a warning at start)."""
    senders: frozenset[str] = frozenset()
    """Subjects that may send, comma-separated, e.g.
    system:serviceaccount:NS:NAME (QOP_AUTH_SENDERS)."""
    api_server: str = "https://kubernetes.default.svc"
    """The API server whose keys sign the tokens (QOP_AUTH_API_SERVER)."""
    api_ca_file: Path | None = _SERVICE_ACCOUNT / "ca.crt"
    """Its CA bundle (QOP_AUTH_API_CA_FILE)."""
    api_token_file: Path | None = _SERVICE_ACCOUNT / "token"
    """Our own token, to read its keys with: anonymous reads are refused
    (QOP_AUTH_API_TOKEN_FILE)."""


@dataclass(frozen=True, slots=True)
class SenderSettings:
    """Whose token `qop watch` sends, by the names Knative gives its source adapters."""

    audience: str = ""
    """The sink's audience (K_AUDIENCE); empty: no token is sent."""
    service_account: str = ""
    """The ServiceAccount to request tokens for (K_OIDC_SERVICE_ACCOUNT)."""
    namespace: str = "default"
    """Its namespace (NAMESPACE)."""


@dataclass(frozen=True, slots=True)
class ProgressSettings:
    """Where execute sends a sweep's progress while it runs (`job.progressed`)."""

    sink: str = ""
    """The Broker's ingress URL (QOP_PROGRESS_SINK); empty: no progress is sent, and
    status.progress moves from none done to all."""
    token_file: Path | None = None
    """A token of execute's for the Broker's audience, a projected ServiceAccount token
    (QOP_PROGRESS_TOKEN_FILE); unset: none is sent."""
    interval_seconds: float = 1.0
    """Least time between two progress events of one run (QOP_PROGRESS_INTERVAL_SECONDS)."""


@dataclass(frozen=True, slots=True)
class RequestSettings:
    max_body_bytes: int = 8 << 20
    """Largest request body `qop serve` and `qop broker` take; a bigger one gets a 413
    (QOP_MAX_REQUEST_BYTES)."""
    max_buffered_bytes: int = 64 << 20
    """Request bodies one `qop serve` worker holds at once, from their first byte to
    their answer; a body that would pass it is answered 503 (QOP_MAX_BUFFERED_BYTES)."""
    receive_seconds: float = 15.0
    """Time a client has to send a whole request, headers and body, before it gets a
    408 and its connection is closed (QOP_REQUEST_RECEIVE_SECONDS)."""
    server_model: str = "bounded"
    """QOP_SERVER_MODEL: bounded (each request received whole on an event loop before
    a thread serves it) or gthread (gunicorn's threaded worker, which has neither
    bound: only to compare them, as benchmarks/slow_clients.py does)."""


@dataclass(frozen=True, slots=True)
class Settings:
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    urls: UrlSettings = field(default_factory=UrlSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    sender: SenderSettings = field(default_factory=SenderSettings)
    requests: RequestSettings = field(default_factory=RequestSettings)
    storage: ObjectStorageSettings = field(default_factory=ObjectStorageSettings)
    progress: ProgressSettings = field(default_factory=ProgressSettings)
    results_dir: Path = field(
        default_factory=lambda: Path.home() / ".local/share/qiskit-operator/results"
    )
    """Where full results are written (QOP_RESULTS_DIR); a volume on a cluster."""
    status_writer: str = "memory"
    """Where reconcile writes status: memory (one machine) or kubernetes
    (QOP_STATUS_WRITER)."""
    max_retries: int = 3
    """Times a transient execution failure is retried (QOP_MAX_RETRIES)."""
    resync_after_seconds: float = 60.0
    """How old a job no event announced must be before reconcile's resync asks for it
    again (QOP_RESYNC_AFTER_SECONDS)."""
    stalled_after_seconds: float = 3600.0
    """How long nothing may move a seen, unfinished job before the resync fails it as
    stalled (QOP_STALLED_AFTER_SECONDS; 0: never)."""
    job_ttl_seconds: int | None = None
    """Seconds after a finished job is deleted, with what it produced, when it sets neither
    spec.ttlSecondsAfterFinished nor output.retention (QOP_JOB_TTL_SECONDS); None (unset):
    kept."""
    lease_minutes: float = 10.0
    """How long a run under way (Validating, Scheduled, Retrying) may go without an
    answer before the resync asks validate for it again (QOP_LEASE_MINUTES; 0: never).
    Longer than the longest execution: an answer merely late is then run twice."""
    knative_dir: Path = field(default_factory=package_files.knative_dir)
    """Where the Trigger manifests are read from (QOP_KNATIVE_DIR): the checkout's
    knative/, else the copy the wheel carries."""
    functions_dir: Path = field(default_factory=package_files.functions_dir)
    """Where the functions' entry points are (QOP_FUNCTIONS_DIR): the checkout's
    functions/, else the copy the wheel carries."""
    log_level: str = "INFO"
    """LOG_LEVEL."""
    log_format: str = ""
    """LOG_FORMAT: json (one object a line, for a cluster's log pipeline) or text;
    empty (unset): text on a terminal, else json."""
    enable_webhooks: bool = False
    """ENABLE_WEBHOOKS: validate also serves POST /admission (AdmissionReview v1)."""
    metrics_addr: str = ""
    """METRICS_ADDR: host:port of a separate Prometheus /metrics listener; empty
    serves /metrics on the function's own port; 0 turns metrics off."""
    tls_cert_file: Path | None = None
    """TLS_CERT_FILE: serve HTTPS with this certificate chain (PEM); with TLS_KEY_FILE."""
    tls_key_file: Path | None = None
    """TLS_KEY_FILE: the private key (PEM) of TLS_CERT_FILE."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = SandboxSettings()
        sandbox = SandboxSettings(
            warm_children=whole_number(env, "QOP_SANDBOX_WARM", defaults.warm_children),
            cpu_seconds=whole_number(env, "QOP_SANDBOX_CPU_SECONDS", defaults.cpu_seconds),
            memory_bytes=whole_number(env, "QOP_SANDBOX_MEMORY_MB", defaults.memory_bytes >> 20)
            << 20,
            timeout_seconds=number(env, "QOP_SANDBOX_TIMEOUT_SECONDS", defaults.timeout_seconds),
            max_qpy_bytes=whole_number(env, "QOP_SANDBOX_MAX_QPY_MB", defaults.max_qpy_bytes >> 20)
            << 20,
            python_guard=env.get("QOP_SANDBOX_PYTHON_GUARD", "on").strip().lower()
            not in ("0", "false", "no", "off"),
            require_isolation=_flag(env.get("QOP_REQUIRE_ISOLATION")),
        )
        limit_defaults = LimitSettings()
        limits = LimitSettings(
            max_source_bytes=whole_number(
                env, "QOP_MAX_SOURCE_BYTES", limit_defaults.max_source_bytes
            ),
            max_qubits=whole_number(env, "QOP_MAX_QUBITS", limit_defaults.max_qubits),
            max_clbits=whole_number(env, "QOP_MAX_CLBITS", limit_defaults.max_clbits),
            max_depth=whole_number(env, "QOP_MAX_DEPTH", limit_defaults.max_depth),
            max_circuits=whole_number(env, "QOP_MAX_CIRCUITS", limit_defaults.max_circuits),
            max_instructions=whole_number(
                env, "QOP_MAX_INSTRUCTIONS", limit_defaults.max_instructions
            ),
            max_nesting=whole_number(env, "QOP_MAX_NESTING", limit_defaults.max_nesting),
            simulation_memory_bytes=whole_number(
                env, "QOP_SIMULATION_MEMORY_MB", limit_defaults.simulation_memory_bytes >> 20
            )
            << 20,
            simulation_timeout_seconds=number(
                env, "QOP_SIMULATION_TIMEOUT_SECONDS", limit_defaults.simulation_timeout_seconds
            ),
            max_noise_model_qubits=whole_number(
                env, "QOP_MAX_NOISE_MODEL_QUBITS", limit_defaults.max_noise_model_qubits
            ),
        )
        urls = UrlSettings(
            allow_http=_flag(env.get("QOP_URL_ALLOW_HTTP")),
            allow_private=_flag(env.get("QOP_URL_ALLOW_PRIVATE")),
            allowed_hosts=frozenset(
                h.strip() for h in env.get("QOP_URL_ALLOWED_HOSTS", "").split(",") if h.strip()
            ),
            timeout_seconds=number(env, "QOP_URL_TIMEOUT_SECONDS", 10.0),
        )
        auth_defaults = AuthSettings()
        auth = AuthSettings(
            audience=env.get("QOP_AUTH_AUDIENCE", "").strip(),
            senders=frozenset(
                s.strip() for s in env.get("QOP_AUTH_SENDERS", "").split(",") if s.strip()
            ),
            api_server=env.get("QOP_AUTH_API_SERVER", auth_defaults.api_server).strip(),
            api_ca_file=_path(env.get("QOP_AUTH_API_CA_FILE", str(auth_defaults.api_ca_file))),
            api_token_file=_path(
                env.get("QOP_AUTH_API_TOKEN_FILE", str(auth_defaults.api_token_file))
            ),
        )
        request_defaults = RequestSettings()
        requests = RequestSettings(
            max_body_bytes=whole_number(
                env, "QOP_MAX_REQUEST_BYTES", request_defaults.max_body_bytes
            ),
            max_buffered_bytes=whole_number(
                env, "QOP_MAX_BUFFERED_BYTES", request_defaults.max_buffered_bytes
            ),
            receive_seconds=number(
                env, "QOP_REQUEST_RECEIVE_SECONDS", request_defaults.receive_seconds
            ),
            server_model=env.get("QOP_SERVER_MODEL", request_defaults.server_model).strip().lower(),
        )
        storage_defaults = ObjectStorageSettings()
        endpoints = env.get("QOP_S3_ENDPOINTS")
        storage = ObjectStorageSettings(
            endpoints=storage_defaults.endpoints
            if endpoints is None
            else tuple(e.strip().rstrip("/") for e in endpoints.split(",") if e.strip()),
            region=env.get("QOP_S3_REGION", storage_defaults.region).strip(),
            attempts=max(1, whole_number(env, "QOP_S3_ATTEMPTS", storage_defaults.attempts)),
            timeout_seconds=number(env, "QOP_S3_TIMEOUT_SECONDS", storage_defaults.timeout_seconds),
        )
        return cls(
            sandbox=sandbox,
            limits=limits,
            urls=urls,
            auth=auth,
            sender=SenderSettings(
                audience=env.get("K_AUDIENCE", "").strip(),
                service_account=env.get("K_OIDC_SERVICE_ACCOUNT", "").strip(),
                namespace=env.get("NAMESPACE", "default").strip(),
            ),
            requests=requests,
            storage=storage,
            progress=ProgressSettings(
                sink=env.get("QOP_PROGRESS_SINK", "").strip(),
                token_file=_path(env.get("QOP_PROGRESS_TOKEN_FILE")),
                interval_seconds=number(env, "QOP_PROGRESS_INTERVAL_SECONDS", 1.0),
            ),
            results_dir=Path(
                env.get("QOP_RESULTS_DIR", Path.home() / ".local/share/qiskit-operator/results")
            ),
            max_retries=whole_number(env, "QOP_MAX_RETRIES", 3),
            resync_after_seconds=number(env, "QOP_RESYNC_AFTER_SECONDS", 60.0),
            stalled_after_seconds=number(env, "QOP_STALLED_AFTER_SECONDS", 3600.0),
            job_ttl_seconds=_ttl(env.get("QOP_JOB_TTL_SECONDS")),
            lease_minutes=float(env.get("QOP_LEASE_MINUTES", 10.0)),
            status_writer=env.get("QOP_STATUS_WRITER", "memory"),
            knative_dir=Path(env.get("QOP_KNATIVE_DIR", package_files.knative_dir())),
            functions_dir=Path(env.get("QOP_FUNCTIONS_DIR", package_files.functions_dir())),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            log_format=env.get("LOG_FORMAT", "").strip().lower(),
            enable_webhooks=_flag(env.get("ENABLE_WEBHOOKS")),
            metrics_addr=env.get("METRICS_ADDR", "").strip(),
            tls_cert_file=_path(env.get("TLS_CERT_FILE")),
            tls_key_file=_path(env.get("TLS_KEY_FILE")),
        )


def whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    """The setting `name` as a whole number (0 or more), or `default` when unset or blank.

    A bad value stops the program at start with one line naming the variable and what
    it accepts, not Python's ValueError from deep inside."""
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise UserError(
            f"{name}={text!r} is not a whole number: it accepts 0, 1, 2, ... (default {default})",
            reason="InvalidSetting",
        )
    return int(text)


def number(env: Mapping[str, str], name: str, default: float) -> float:
    """The setting `name` as a number (0 or more, decimals allowed), or `default`."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise UserError(
            f"{name}={text!r} is not a number: it accepts 0 or more, such as 2.5 "
            f"(default {default:g})",
            reason="InvalidSetting",
        )
    return value


def _ttl(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not text.isdigit():
        raise UserError(
            f"QOP_JOB_TTL_SECONDS {value!r} is not a whole number of seconds (0 or more); "
            "leave it unset to keep finished jobs",
            reason="InvalidSetting",
        )
    return int(text)


def _path(value: str | None) -> Path | None:
    return Path(value) if value and value.strip() else None


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")
