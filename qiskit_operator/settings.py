"""All settings of the functions and the local runner, read from the environment once.

Every setting has a documented default; the README's table lists them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


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
class Settings:
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    knative_dir: Path = _REPO / "knative"
    """Where the Trigger manifests are read from (QOP_KNATIVE_DIR)."""
    functions_dir: Path = _REPO / "functions"
    """Where the functions' entry points are (QOP_FUNCTIONS_DIR)."""
    log_level: str = "INFO"
    """LOG_LEVEL."""

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
        return cls(
            sandbox=sandbox,
            knative_dir=Path(env.get("QOP_KNATIVE_DIR", _REPO / "knative")),
            functions_dir=Path(env.get("QOP_FUNCTIONS_DIR", _REPO / "functions")),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
        )
