"""The composition root: builds each function's handler from the settings.

Called by the entry points under functions/ and by the local runner, so both
run the same objects. Qiskit is imported only for the functions that need it,
so the reconcile function starts without it. The memory status store is
process-wide because on one machine it stands in for the Kubernetes API
server, of which a cluster has one.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from qiskit_operator.reconciling import Reconciler
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore

if TYPE_CHECKING:
    from qiskit_operator.executing import Executor
    from qiskit_operator.validating import Validator


@cache
def memory_store() -> MemoryStatusStore:
    return MemoryStatusStore()


def validator(settings: Settings) -> Validator:
    from qiskit_operator.circuits.sandbox import SandboxPool
    from qiskit_operator.validating import Validator

    limits = settings.sandbox
    return Validator(
        SandboxPool(
            warm=limits.warm_children,
            cpu_seconds=limits.cpu_seconds,
            memory_bytes=limits.memory_bytes,
            timeout=limits.timeout_seconds,
        )
    )


def executor(settings: Settings) -> Executor:
    from qiskit_operator.executing import Executor

    return Executor()


def reconciler(settings: Settings, store: MemoryStatusStore | None = None) -> Reconciler:
    return Reconciler(store or memory_store())
