"""The validate function's logic: load the circuit safely, measure it, pick the backend.

Input: ApiServerSource add/update events of QiskitJobs, and the HTTP API's
requests (`validation_api`). Reply: `job.validated` with the canonical circuit,
`job.budgeted` instead for a job with a QiskitBudget (reconcile reserves its
estimate, then sends it on), or `job.rejected` with what to change. A job in a
QiskitSession is answered `job.held` until its turn; in its turn it is validated,
priced and budgeted on the session's backend. Reads ConfigMaps for circuit
sources, QiskitBackends, QiskitBudgets and QiskitSessions; writes nothing to
Kubernetes, ever.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from datetime import UTC, datetime

import msgspec

from qiskit_operator import metrics
from qiskit_operator.budgets import choosing, pricing
from qiskit_operator.budgets.stores import BudgetStore, MemoryBudgets
from qiskit_operator.catalogue import selection
from qiskit_operator.catalogue.refreshing import BackendStore, MemoryBackends
from qiskit_operator.circuits.backends import fit_device
from qiskit_operator.circuits.formats import detect_format
from qiskit_operator.circuits.loading import load_source
from qiskit_operator.circuits.report import CircuitReport, check_circuit
from qiskit_operator.circuits.serialization import from_qpy
from qiskit_operator.circuits.sources import CircuitSources
from qiskit_operator.durations import parse_duration
from qiskit_operator.errors import NoClusterError, OperatorError, TransientError, UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import job_from_event, job_ref, job_ref_from_raw
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.execution.observables import parse_observable
from qiskit_operator.models import QiskitJob
from qiskit_operator.models.spec import OUTPUT_ELSEWHERE_MESSAGE, BackendSpec, CircuitFormat
from qiskit_operator.providers import (
    DEFAULT_CREDENTIALS_SECRET,
    FAMILY_OF_TYPE,
    REMOTE_FAMILIES,
    capabilities,
)
from qiskit_operator.providers.lookup import capabilities_of, family_of
from qiskit_operator.sandbox.confinement import Isolation
from qiskit_operator.sandbox.pool import SandboxPool
from qiskit_operator.sessions.holding import JobHeld, SessionGate, encode_held, in_turn
from qiskit_operator.settings import LimitSettings
from qiskit_operator.storage import objects

SOURCE = "/qiskit-operator/validate"
log = logging.getLogger(__name__)


class Validator:
    def __init__(
        self,
        sandbox: SandboxPool,
        sources: CircuitSources,
        limits: LimitSettings,
        catalogue: BackendStore | None = None,
        budgets: BudgetStore | None = None,
        sessions: SessionGate | None = None,
    ) -> None:
        """`catalogue`: the QiskitBackends that backend selection chooses among and that
        price a job (the cluster's; none on one machine, where selection can only fall
        back to Aer). `budgets`: the QiskitBudgets jobs are charged to. `sessions`: where
        a job's QiskitSession is read (none: no job may name one)."""
        self.sandbox = sandbox
        self.sources = sources
        self.limits = limits
        self.catalogue = catalogue or MemoryBackends()
        self.budgets = budgets or MemoryBudgets()
        self.sessions = sessions

    def ready(self) -> bool:
        return self.sandbox.is_warm

    def isolation(self) -> Isolation:
        """The kernel's layers each sandbox child runs under (for /health and /ready)."""
        return self.sandbox.isolation()

    def close(self) -> None:
        self.sandbox.close()

    def inspect(
        self,
        code: str,
        fmt: CircuitFormat | None = None,
        *,
        variable: str | None = None,
        backend: str | None = None,
        method: str | None = None,
        optimization_level: int = 1,
        shots: int = 1024,
        noise_model: str | None = None,
    ) -> CircuitReport:
        """Load and check one circuit source; UserError says what is wrong and where."""
        size = len(code.encode())
        if size > self.limits.max_source_bytes:
            raise UserError(
                f"the circuit source is {size} bytes; the limit is {self.limits.max_source_bytes}",
                reason="SourceTooLarge",
            )
        fmt = fmt or detect_format(code)
        with metrics.VALIDATION_SECONDS.labels(fmt).time():
            loaded = load_source(code, fmt, self.sandbox, variable, self.limits.sizes())
            return check_circuit(
                loaded,
                backend=backend,
                method=method,
                optimization_level=optimization_level,
                shots=shots,
                limits=self.limits,
                noise_model=noise_model,
            )

    def handle(self, event: Envelope) -> Envelope | None:
        if event.type not in (types.APISERVER_ADD, types.APISERVER_UPDATE):
            return None
        ref = job_ref_from_raw(event)
        if ref is None:
            log.warning("event %s carries no object with a name; ignored", event.id)
            return None
        try:
            job = job_from_event(event)
        except UserError as error:
            return _rejected(
                event, payloads.JobRejected(job=ref, reason=error.reason, message=error.message)
            )
        if _already_seen(job) or job.spec.cancel:
            return None  # a cancelled job is not run: reconcile ends it
        try:
            if job.spec.session is not None and job.spec.session.name:
                turn = self._session_turn(job, ref)
                if isinstance(turn, JobHeld):  # reconcile queues it in its session
                    return event.reply(types.JOB_HELD, SOURCE, encode_held(turn))
                job = turn
            validated = self.validate(job)
        except UserError as error:
            rejected = payloads.JobRejected(
                job=job_ref(job), reason=error.reason, message=error.message, line=error.line
            )
            return _rejected(event, rejected)
        status = job.status
        if status is not None and status.requeued_for(job.generation):
            # Asked again by the resync: the run goes on under the retries already counted.
            validated = msgspec.structs.replace(
                validated,
                execution=msgspec.structs.replace(
                    validated.execution, attempt=status.retry_count or 0
                ),
            )
        metrics.JOBS.labels("validate", "validated").inc()
        if validated.budget is not None:  # reconcile reserves its estimate, then sends it on
            return event.reply(types.JOB_BUDGETED, SOURCE, payloads.encode(validated))
        # One line per job, in its trace: `kubectl qiskit logs JOB` finds it by trace id.
        log.info(
            "%s validated: %d qubits, depth %d, on %s",
            ref.key,
            validated.metadata.qubits,
            validated.metadata.depth,
            validated.backend,
        )
        metrics.circuit_validated(validated.metadata.qubits, validated.metadata.depth)
        return event.reply(types.JOB_VALIDATED, SOURCE, payloads.encode(validated))

    def _session_turn(self, job: QiskitJob, ref: payloads.JobRef) -> QiskitJob | JobHeld:
        if self.sessions is None:
            raise UserError(
                "spec.session needs a cluster's QiskitSessions, and `qop run` has none: run "
                "the job on a cluster (`qop dev up`, docs/sessions.md) or remove spec.session",
                reason="SessionNotFound",
            )
        return self.sessions.admit(job, ref)

    def validate(self, job: QiskitJob) -> payloads.JobValidated:
        started = time.perf_counter()
        selecting = job.spec.backend_selection is not None
        # A named backend is looked up before the circuit is loaded: an unknown one
        # is refused at once. A selected one is known only once the circuit is measured.
        offered = None if selecting else capabilities_of(job.spec.backend)
        spec, execution = job.spec.circuit, job.spec.execution
        source = self.sources.read(spec, job.metadata.namespace)
        aer = FAMILY_OF_TYPE[job.spec.backend.type] == "aer"
        report = self.inspect(
            source.text,
            spec.format or source.format_hint,
            variable=spec.variable,
            method=job.spec.backend.method,
            optimization_level=execution.optimization_level,
            shots=execution.shots,
            # A device has its own noise; the capability check below refuses a model.
            noise_model=job.spec.backend.noise_model if aer else None,
        )
        choice = None
        if offered is None:
            choice = self._select(job, report.summary)
            job = _on_backend(job, choice)
            offered = capabilities_of(job.spec.backend)
        capabilities.check(
            offered,
            capabilities.Ask(
                primitive=execution.primitive,
                noise_model=job.spec.backend.noise_model,
                swept=bool(execution.parameter_values),
                shots=execution.shots,
                qubits=report.summary.qubits,
            ),
        )
        transpiled = None
        if offered.family == "ibm_runtime":
            # What the device really runs: its depth and two-qubit gates after transpiling
            # for its target, which execute then does again (status.circuitMetadata).
            circuit = from_qpy(report.qpy, self.limits.sizes())[0]
            fit = fit_device(circuit, offered.device, execution.optimization_level)
            transpiled = payloads.DeviceTranspiled(
                device=fit.backend,
                depth=fit.transpiled_depth,
                two_qubit_gates=fit.transpiled_two_qubit_gates,
            )
        backend = (
            (job.spec.backend.name or report.backend) if offered.family == "aer" else offered.device
        )
        # Aer's QiskitBackend offers aer_simulator, whichever method a job asks for.
        priced = (job.spec.backend.name or "aer_simulator") if offered.family == "aer" else backend
        request = msgspec.structs.replace(
            execution_request(job, report), price=self._price(offered.family, priced)
        )
        cost = pricing.estimate(request, pricing.SECONDS_PER_SHOT)
        budget = self._budget(job, cost)
        return payloads.JobValidated(
            job=job_ref(job),
            circuit_qpy=base64.b64encode(report.qpy).decode(),
            format=report.format,
            metadata=report.summary,
            backend=backend,
            execution=request,
            estimated_cost=cost,
            budget=budget,
            validation_seconds=time.perf_counter() - started,
            transpiled=transpiled,
            selection=None
            if choice is None
            else payloads.BackendChoice(
                backend=choice.backend,
                reason=choice.reason,
                message=choice.message,
                original=choice.original,
                fallback_used=choice.fallback_used,
            ),
        )

    def _price(self, family: str, device: str) -> payloads.Price | None:
        """The job's backend's price, from the QiskitBackend that offers it."""
        try:
            return pricing.price_for(self.catalogue.backends(), family, device)
        except NoClusterError:
            return None  # served on one machine: no QiskitBackend prices anything
        except OperatorError as error:  # a job is not run unpriced where backends are priced
            raise TransientError(f"reading the QiskitBackends' prices failed: {error}") from error

    def _budget(self, job: QiskitJob, cost: payloads.Cost) -> str | None:
        """The QiskitBudget the job is charged to, if any; refused now when it names one
        that does not exist or is plainly over what the budget has left."""
        namespace = job.metadata.namespace
        try:
            budgets = self.budgets.budgets(namespace)
        except NoClusterError:
            return None  # served on one machine: no QiskitBudget to answer to
        except OperatorError as error:
            raise TransientError(f"reading the QiskitBudgets failed: {error}") from error
        budget = choosing.governing(job.spec.budget, namespace, budgets)
        if budget is None:
            return None
        choosing.check(budget, cost.amount, datetime.now(UTC))
        return budget.metadata.name

    def _select(self, job: QiskitJob, summary: payloads.CircuitSummary) -> selection.Choice:
        wanted = job.spec.backend_selection
        assert wanted is not None  # validate selects only for a job that asks
        try:
            catalogue = self.catalogue.backends()
        except TransientError as error:  # as for a ConfigMap source: no cluster to ask
            raise UserError(
                f"spec.backendSelection chooses among the cluster's QiskitBackends but "
                f"{error}; name spec.backend instead, or run on a cluster",
                reason="CatalogueUnavailable",
            ) from error
        except OperatorError as error:  # forbidden, or another refusal of the API server
            raise TransientError(f"reading the QiskitBackends failed: {error}") from error
        need = selection.Need(
            qubits=summary.qubits,
            two_qubit_gates=summary.two_qubit_gates,
            primitive=job.spec.execution.primitive,
            shots=job.spec.execution.shots,
        )
        return selection.select(catalogue, wanted, need)


def _on_backend(job: QiskitJob, choice: selection.Choice) -> QiskitJob:
    """`job` as if it had named the backend selection chose."""
    current = job.spec.backend
    if choice.family == "aer":
        backend = BackendSpec(
            type="local_simulator", method=current.method, noise_model=current.noise_model
        )
    elif choice.family == "ibm_runtime":
        kind = "ibm_simulator" if choice.device.startswith("fake_") else "ibm_quantum"
        backend = BackendSpec(type=kind, name=choice.device)
    else:
        backend = BackendSpec(type="aws_braket", name=choice.device)
    return job.model_copy(update={"spec": job.spec.model_copy(update={"backend": backend})})


def execution_request(job: QiskitJob, report: CircuitReport) -> payloads.ExecutionRequest:
    """What execute will run, checked now so that a mistake fails before any simulation."""
    execution, summary = job.spec.execution, report.summary
    if execution.primitive == "estimator":
        if not execution.observables:
            raise UserError(
                "execution.primitive is estimator, so execution.observables is "
                "required (e.g. [ZZ, XX])",
                reason="InvalidSpec",
            )
        for text in execution.observables:
            parse_observable(text, summary.qubits)
    elif execution.observables:
        raise UserError(
            "execution.observables are for the estimator; set "
            "execution.primitive: estimator or remove them",
            reason="InvalidSpec",
        )
    rows = execution.parameter_values or []
    if summary.parameters and not rows:
        raise UserError(
            f"the circuit has parameters ({', '.join(summary.parameters)}); give "
            "their values in execution.parameterValues, one row per binding",
            reason="UnboundParameters",
        )
    for index, row in enumerate(rows):
        if len(row) != len(summary.parameters):
            raise UserError(
                f"execution.parameterValues row {index} has {len(row)} values but the circuit "
                f"has {len(summary.parameters)} parameters ({', '.join(summary.parameters)})",
                reason="InvalidSpec",
            )
    output = job.spec.output
    if output is not None and output.type not in ("configmap", "pvc", "s3"):
        raise UserError(OUTPUT_ELSEWHERE_MESSAGE, reason="InvalidSpec")
    limit = execution.max_execution_time
    return payloads.ExecutionRequest(
        shots=execution.shots,
        optimization_level=execution.optimization_level,
        # A seed fixed here makes a retried or duplicated run give the same counts.
        seed=execution.seed if execution.seed is not None else secrets.randbelow(2**31),
        method=report.plan.method,
        max_execution_seconds=parse_duration(limit) if limit else None,
        primitive=execution.primitive,
        observables=list(execution.observables or []),
        parameter_values=[list(row) for row in rows],
        precision=execution.precision,
        noise_model=job.spec.backend.noise_model,
        family=family_of(job.spec.backend),
        credentials=_credentials(job),
        device=None if family_of(job.spec.backend) == "aer" else job.spec.backend.name,
        output=objects.requested(output) if output is not None else None,
        session=f"{job.metadata.namespace}/{job.spec.session.name}"
        if job.spec.session and job.spec.session.name
        else None,
        # what `SessionGate.admit` copied from the QiskitSession
        session_mode=job.spec.session.mode if job.spec.session else None,
    )


def _credentials(job: QiskitJob) -> payloads.CredentialsRequest | None:
    """Where execute finds the job's provider credentials; validate never reads them."""
    if family_of(job.spec.backend) not in REMOTE_FAMILIES:
        return None
    named = job.spec.credentials.secret_ref if job.spec.credentials else None
    return payloads.CredentialsRequest(
        namespace=job.metadata.namespace,
        name=named.name if named else DEFAULT_CREDENTIALS_SECRET,
        explicit=named is not None,
    )


def _already_seen(job: QiskitJob) -> bool:
    # Reconcile records the generation it has seen; a later update event (its own
    # status write, for one) must not start a second validation of the same spec,
    # unless the resync asked for the run again (its answer was lost).
    status = job.status
    observed = status.observed_generation if status else None
    if status is not None and status.requeued_for(job.generation):
        return False
    if in_turn(job):  # its session's turn came: reconcile's write of it is the event
        return False
    return observed is not None and observed >= job.generation


def _rejected(event: Envelope, payload: payloads.JobRejected) -> Envelope:
    metrics.JOBS.labels("validate", "rejected").inc()
    return event.reply(types.JOB_REJECTED, SOURCE, payloads.encode(payload))
