"""All settings of the functions and the local runner, read from the environment once.

Every setting has a documented default; the README's table lists them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qiskit_operator import package_files


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


@dataclass(frozen=True, slots=True)
class LimitSettings:
    max_source_bytes: int = 1 << 20
    """Largest circuit source accepted, in bytes (QOP_MAX_SOURCE_BYTES)."""
    max_qubits: int = 64
    """Most qubits a circuit may have (QOP_MAX_QUBITS)."""
    max_depth: int = 100_000
    """Deepest circuit accepted (QOP_MAX_DEPTH)."""
    max_circuits: int = 32
    """Most circuits one Python program may build (QOP_MAX_CIRCUITS)."""
    simulation_memory_bytes: int = 2 << 30
    """Memory a simulation may use; bigger states are refused before running
    (QOP_SIMULATION_MEMORY_MB, in MiB)."""


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
class Settings:
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    urls: UrlSettings = field(default_factory=UrlSettings)
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
            warm_children=int(env.get("QOP_SANDBOX_WARM", defaults.warm_children)),
            cpu_seconds=int(env.get("QOP_SANDBOX_CPU_SECONDS", defaults.cpu_seconds)),
            memory_bytes=int(env.get("QOP_SANDBOX_MEMORY_MB", defaults.memory_bytes >> 20)) << 20,
            timeout_seconds=float(env.get("QOP_SANDBOX_TIMEOUT_SECONDS", defaults.timeout_seconds)),
        )
        limit_defaults = LimitSettings()
        limits = LimitSettings(
            max_source_bytes=int(env.get("QOP_MAX_SOURCE_BYTES", limit_defaults.max_source_bytes)),
            max_qubits=int(env.get("QOP_MAX_QUBITS", limit_defaults.max_qubits)),
            max_depth=int(env.get("QOP_MAX_DEPTH", limit_defaults.max_depth)),
            max_circuits=int(env.get("QOP_MAX_CIRCUITS", limit_defaults.max_circuits)),
            simulation_memory_bytes=int(
                env.get("QOP_SIMULATION_MEMORY_MB", limit_defaults.simulation_memory_bytes >> 20)
            )
            << 20,
        )
        urls = UrlSettings(
            allow_http=_flag(env.get("QOP_URL_ALLOW_HTTP")),
            allow_private=_flag(env.get("QOP_URL_ALLOW_PRIVATE")),
            allowed_hosts=frozenset(
                h.strip() for h in env.get("QOP_URL_ALLOWED_HOSTS", "").split(",") if h.strip()
            ),
            timeout_seconds=float(env.get("QOP_URL_TIMEOUT_SECONDS", 10.0)),
        )
        return cls(
            sandbox=sandbox,
            limits=limits,
            urls=urls,
            results_dir=Path(
                env.get("QOP_RESULTS_DIR", Path.home() / ".local/share/qiskit-operator/results")
            ),
            max_retries=int(env.get("QOP_MAX_RETRIES", 3)),
            resync_after_seconds=float(env.get("QOP_RESYNC_AFTER_SECONDS", 60.0)),
            stalled_after_seconds=float(env.get("QOP_STALLED_AFTER_SECONDS", 3600.0)),
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


def _path(value: str | None) -> Path | None:
    return Path(value) if value and value.strip() else None


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")
