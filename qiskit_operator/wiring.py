"""The composition root: builds each function's handler from the settings.

Called by the entry points under functions/ and by the local runner, so both
run the same objects. Qiskit is imported only for the functions that need it,
so the reconcile function starts without it. The memory status store is
process-wide because on one machine it stands in for the Kubernetes API
server, of which a cluster has one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from qiskit_operator.auth.tokens import ProjectedToken
from qiskit_operator.budgets.admitting import BudgetKeeper
from qiskit_operator.budgets.stores import BudgetStore, MemoryBudgets
from qiskit_operator.catalogue.refreshing import BackendStore, CatalogueRefresh
from qiskit_operator.events.publishing import BrokerPublisher
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from qiskit_operator.retention import Expiry, MemoryRetention
from qiskit_operator.sessions.store import MemorySessions, SessionStore
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore, StatusWriter

if TYPE_CHECKING:
    from qiskit_operator.circuits.sources import ConfigMapReader
    from qiskit_operator.executing import Executor
    from qiskit_operator.hardware.credentials import SecretReader
    from qiskit_operator.validating import Validator


@cache
def memory_store() -> MemoryStatusStore:
    return MemoryStatusStore()


@cache
def memory_budgets() -> MemoryBudgets:
    """One machine's QiskitBudgets (`qop run` reads them beside the job file)."""
    return MemoryBudgets()


def budget_store(settings: Settings) -> BudgetStore:
    """Where reconcile keeps budgets: the cluster's with its status writer, else memory."""
    if settings.status_writer == "kubernetes":
        from qiskit_operator.kube.budgets import KubeBudgets

        return KubeBudgets(kube_connection())
    return memory_budgets()


@cache
def kube_connection() -> KubeConnection:
    return KubeConnection()


def status_writer(settings: Settings) -> StatusWriter:
    """The Kubernetes API on a cluster; the in-memory store on one machine."""
    if settings.status_writer == "kubernetes":
        from qiskit_operator.kube.status import KubeStatusWriter

        return KubeStatusWriter(kube_connection())
    return memory_store()


def validator(
    settings: Settings,
    configmaps: ConfigMapReader | None = None,
    catalogue: BackendStore | None = None,
    budgets: BudgetStore | None = None,
) -> Validator:
    """`configmaps`, `catalogue` and `budgets` default to the cluster's (the Kubernetes
    API); so do QiskitSessions when `catalogue` does."""
    from qiskit_operator.circuits.fetching import UrlPolicy
    from qiskit_operator.circuits.sources import CircuitSources
    from qiskit_operator.kube.backends import KubeBackends
    from qiskit_operator.kube.budgets import KubeBudgets
    from qiskit_operator.kube.configmaps import KubeConfigMapReader
    from qiskit_operator.kube.sessions import KubeSessions
    from qiskit_operator.sandbox import confinement
    from qiskit_operator.sandbox.pool import SandboxPool
    from qiskit_operator.sessions.holding import SessionGate
    from qiskit_operator.validating import Validator

    sandbox, limits, urls = settings.sandbox, settings.limits, settings.urls
    confinement.check("validate", required=sandbox.require_isolation)
    pool = SandboxPool(
        warm=sandbox.warm_children,
        cpu_seconds=sandbox.cpu_seconds,
        memory_bytes=sandbox.memory_bytes,
        timeout=sandbox.timeout_seconds,
        max_source_bytes=limits.max_source_bytes,
        max_qpy_bytes=sandbox.max_qpy_bytes,
        python_guard=sandbox.python_guard,
        require_isolation=sandbox.require_isolation,
    )
    sources = CircuitSources(
        configmaps=configmaps or KubeConfigMapReader(kube_connection()),
        url_policy=UrlPolicy(
            allow_http=urls.allow_http,
            allow_private=urls.allow_private,
            allowed_hosts=urls.allowed_hosts,
            max_bytes=limits.max_source_bytes,
            timeout_seconds=urls.timeout_seconds,
        ),
        max_bytes=limits.max_source_bytes,
    )
    return Validator(
        pool,
        sources,
        limits,
        catalogue or KubeBackends(kube_connection()),
        budgets=budgets or KubeBudgets(kube_connection()),
        # The cluster's QiskitSessions, as its catalogue; one machine (`qop run`, which
        # brings its own catalogue) has none: a job naming one is refused saying so.
        sessions=SessionGate(KubeSessions(kube_connection())) if catalogue is None else None,
    )


def executor(settings: Settings, secrets: SecretReader | None = None) -> Executor:
    """`secrets` defaults to the cluster's (the Kubernetes API)."""
    from qiskit_operator.executing import Executor
    from qiskit_operator.execution.aer import AerRunner
    from qiskit_operator.execution.isolation import IsolatedRunner
    from qiskit_operator.kube.secrets import KubeSecretReader
    from qiskit_operator.sandbox import confinement
    from qiskit_operator.storage.uploading import S3Results

    # Only execute reads Secrets: a provider token, or an S3 key, for a job that needs one.
    reader = secrets or KubeSecretReader(kube_connection())
    required = settings.sandbox.require_isolation
    confinement.check("execute", required=required)
    isolated = IsolatedRunner(
        simulation_memory_bytes=settings.limits.simulation_memory_bytes,
        require_isolation=required,
        sizes=settings.limits.sizes(circuits=1),
        max_noise_model_qubits=settings.limits.max_noise_model_qubits,
    )
    # Where isolation is required, no circuit is loaded or simulated outside the worker.
    deadline = settings.limits.simulation_timeout_seconds if required else None
    return Executor(
        ResultStore(settings.results_dir),
        runner=AerRunner(max_noise_model_qubits=settings.limits.max_noise_model_qubits),
        isolated=isolated,
        confined_deadline=deadline,
        noisy_deadline=settings.limits.simulation_timeout_seconds,
        sizes=settings.limits.sizes(circuits=1),
        # Only execute reads Secrets: a provider token, or an S3 key, for a job that needs one.
        secrets=reader,
        s3=S3Results(settings.storage, reader),
        publish=progress_publisher(settings),
        progress_interval=settings.progress.interval_seconds,
    )


def progress_publisher(settings: Settings) -> BrokerPublisher | None:
    """Where execute sends `job.progressed` (the Broker's ingress), with its own token."""
    progress = settings.progress
    if not progress.sink:
        return None
    token = ProjectedToken(progress.token_file) if progress.token_file is not None else None
    return BrokerPublisher(progress.sink, token)


def reconciler(
    settings: Settings, store: StatusWriter | None = None, budgets: BudgetStore | None = None
) -> Reconciler:
    stalled = settings.stalled_after_seconds
    writer = store or status_writer(settings)
    keeper = BudgetKeeper(budgets or budget_store(settings), _utc_now)
    return Reconciler(
        writer,
        results=ResultStore(settings.results_dir),
        max_retries=settings.max_retries,
        resync_after=timedelta(seconds=settings.resync_after_seconds),
        stalled_after=timedelta(seconds=stalled) if stalled > 0 else None,
        expiry=expiry(settings, writer),
        lease=timedelta(minutes=settings.lease_minutes) if settings.lease_minutes > 0 else None,
        catalogue=catalogue(settings),
        budgets=keeper,
        sessions=session_store(settings, writer),
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


@cache
def memory_sessions() -> MemorySessions:
    """One machine's QiskitSessions, beside its jobs (`memory_store`)."""
    return MemorySessions(memory_store())


def session_store(settings: Settings, writer: StatusWriter | None = None) -> SessionStore:
    """The cluster's QiskitSessions, or one machine's beside the jobs of `writer`."""
    if settings.status_writer == "kubernetes":
        from qiskit_operator.kube.sessions import KubeSessions

        return KubeSessions(kube_connection())
    if isinstance(writer, MemoryStatusStore) and writer is not memory_store():
        return MemorySessions(writer)
    return memory_sessions()


def catalogue(settings: Settings) -> CatalogueRefresh | None:
    """The QiskitBackends whose status reconcile refreshes on the ping: a cluster's."""
    if settings.status_writer != "kubernetes":
        return None  # one machine has no catalogue: jobs name their backend
    from qiskit_operator.kube.backends import KubeBackends

    return CatalogueRefresh(KubeBackends(kube_connection()))


def expiry(settings: Settings, writer: StatusWriter) -> Expiry | None:
    """Deletion of finished jobs on the store reconcile writes to."""
    default = settings.job_ttl_seconds
    ttl = timedelta(seconds=default) if default is not None else None
    if isinstance(writer, MemoryStatusStore):
        return Expiry(MemoryRetention(writer), ttl)
    if settings.status_writer == "kubernetes":
        from qiskit_operator.kube.retention import KubeRetention

        return Expiry(KubeRetention(kube_connection()), ttl)
    return None  # a store of a test's own
