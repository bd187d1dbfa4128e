"""The environment a process that handles untrusted input starts with.

Used by the sandbox's zygote (`pool`) and execute's simulation worker
(`execution.isolation`): only what Python, numpy, OpenBLAS and OpenMP need from
the server's environment, so a circuit finds no credentials there.
"""

from __future__ import annotations

import os

_PASSED = (
    "PATH",
    "LANG",
    "LC_ALL",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "HOME",
    "TZ",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
)


def untrusted_environment(also_passed: tuple[str, ...] = (), **fixed: str) -> dict[str, str]:
    """The allow-listed variables of this process (and `also_passed`), then `fixed`."""
    passed = (*_PASSED, *also_passed)
    env = {k: v for k, v in os.environ.items() if k in passed}
    env.update(fixed)
    return env
