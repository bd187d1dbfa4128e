"""`qop run`: the cluster's pipeline on one machine.

Emits the event ApiServerSource would for the job, then lets a local Broker
route every event by the Trigger manifests in knative/, to the three functions
either in-process or as real functions-framework HTTP servers on loopback.
"""

from __future__ import annotations

import copy
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, make_server

from qiskit_operator import tracing, wiring
from qiskit_operator.budgets.stores import MemoryBudgets
from qiskit_operator.catalogue.refreshing import BackendStore, MemoryBackends
from qiskit_operator.circuits.sources import ConfigMapReader
from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import job_ref_from_raw, resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.hardware.credentials import TOKEN_KEY, MemorySecrets, SecretReader
from qiskit_operator.local.stack import ping_event
from qiskit_operator.loopback import KeepAliveHandler
from qiskit_operator.models import ObjectMeta, QiskitJob
from qiskit_operator.models.phases import REMOTE
from qiskit_operator.providers import DEFAULT_CREDENTIALS_SECRET
from qiskit_operator.routing.broker import LocalBroker
from qiskit_operator.routing.delivery import HttpSubscriber, InProcessSubscriber, Subscriber
from qiskit_operator.routing.routes import Routes
from qiskit_operator.routing.triggers import Trigger, load_triggers
from qiskit_operator.serving import FunctionEndpoint
from qiskit_operator.settings import Settings
from qiskit_operator.status.writer import MemoryStatusStore

STAND_IN_TOKEN = "fake-token-local"
"""What `qop run` gives the fake provider: it has no Secrets to read a real one from."""
HARDWARE_PING_SECONDS = 0.5
"""How often `qop run` pings while a hardware job waits (a cluster: every five minutes)."""
HARDWARE_WAIT_SECONDS = 600.0
"""How long `qop run` waits for a provider; the job is left as it is after that."""

FUNCTIONS = {
    "validate": "qiskit-validate",
    "execute": "qiskit-execute",
    "reconcile": "qiskit-reconcile",
}


class FunctionServer:
    """One function as a real functions-framework app on a free loopback port."""

    def __init__(self, function: str, settings: Settings) -> None:
        import functions_framework

        source = settings.functions_dir / function / "main.py"
        self.app = functions_framework.create_app(target=function, source=str(source))  # type: ignore[no-untyped-call]
        # functions-framework registers the loaded source as module "main".
        self._endpoint: FunctionEndpoint | None = getattr(sys.modules.get("main"), "endpoint", None)
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=KeepAliveHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"serve-{function}", daemon=True
        )
        self._thread.start()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = requests.get(self.url + "ready", timeout=5)
            if answer.status_code == 200:
                return
            if answer.status_code != 503:  # 503 is "warming"; anything else will not pass
                raise RuntimeError(
                    f"{self.url}ready answered {answer.status_code}: {answer.text[:200]}"
                )
            time.sleep(0.05)
        raise TimeoutError(f"{self.url} did not become ready in {timeout:g} s")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._endpoint is not None:
            self._endpoint.close()


class LocalPipeline:
    """The three functions and a Broker; use as a context manager."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        http: bool = False,
        store: MemoryStatusStore | None = None,
        configmaps: ConfigMapReader | None = None,
        catalogue: BackendStore | None = None,
        secrets: SecretReader | None = None,
        budgets: MemoryBudgets | None = None,
    ) -> None:
        """`catalogue`: the QiskitBackends backend selection sees and that price jobs (none
        by default: one machine has no cluster, so selection can only fall back to Aer).
        `budgets`: the QiskitBudgets jobs are charged to (none by default)."""
        self.settings = settings or Settings.from_env()
        self.http = http
        self.store = store or wiring.memory_store()
        self._configmaps = configmaps
        self.catalogue = catalogue or MemoryBackends()
        self.budgets = budgets or wiring.memory_budgets()
        # One machine has no Secrets: the fake provider's jobs run under a stand-in
        # token in each namespace's default Secret (docs/credentials.md).
        self.secrets = secrets or MemorySecrets(
            {("default", DEFAULT_CREDENTIALS_SECRET): {TOKEN_KEY: STAND_IN_TOKEN}}
        )
        self._servers: list[FunctionServer] = []
        self._closers: list[Callable[[], None]] = []
        self.subscribers: dict[str, Subscriber] = {}
        self._triggers: list[Trigger] | None = None
        self._running: LocalBroker | None = None  # the broker of the job under way

    def __enter__(self) -> LocalPipeline:
        if self.http:
            for function, service in FUNCTIONS.items():
                server = FunctionServer(function, self.settings)
                self._servers.append(server)
                self.subscribers[service] = HttpSubscriber(service, server.url)
            for server in self._servers:
                server.wait_ready()
        else:
            validator = wiring.validator(
                self.settings, self._configmaps, self.catalogue, self.budgets
            )
            validator.sandbox.wait_warm()
            self._closers.append(validator.sandbox.close)
            executor = wiring.executor(self.settings, self.secrets)
            self._closers.append(executor.close)
            executor.publish = self._progressed
            reconciler = wiring.reconciler(self.settings, self.store, self.budgets)
            for service, handler in (
                ("qiskit-validate", validator),
                ("qiskit-execute", executor),
                ("qiskit-reconcile", reconciler),
            ):
                function = service.removeprefix("qiskit-")
                self.subscribers[service] = InProcessSubscriber(
                    service, tracing.traced(function, handler.handle)
                )
        return self

    def __exit__(self, *_: object) -> None:
        for server in self._servers:
            server.close()
        for close in self._closers:
            close()
        tracing.flush()

    def _progressed(self, event: Envelope) -> None:
        """Execute's progress, delivered while its run goes on (as the Broker would)."""
        if self._running is not None:
            self._running.publish_now(event)

    def broker(self) -> LocalBroker:
        if self._triggers is None:
            self._triggers = load_triggers(self.settings.knative_dir / "triggers.yaml")
        return LocalBroker(Routes(self._triggers, self.subscribers))

    def run(self, manifest: dict[str, Any]) -> QiskitJob:
        """Submit the job as `kubectl apply` would and run the pipeline to its end,
        in the job's trace (`tracing.job_trace`; reconcile exports the job's span)."""
        obj = admit(manifest)
        event = resource_event(obj, types.APISERVER_ADD)
        ref = job_ref_from_raw(event)
        assert ref is not None
        with tracing.job_trace(ref):
            return self._run(obj, event)

    def _run(self, obj: dict[str, Any], event: Envelope) -> QiskitJob:
        self.store.add(_unchecked_job(obj))
        broker = self._running = self.broker()
        broker.publish(event)
        broker.run_until_idle()
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        job = self._wait_for_provider(broker, key)
        if job.status is None or job.status.phase is None or not job.status.phase.is_terminal:
            # Nothing may be left hanging: what could not be delivered fails the job,
            # as the dead-letter sink does on a cluster.
            reasons = (
                "; ".join(f"{f.event_type} to {f.trigger}: {f.error}" for f in broker.failures)
                or "no function answered"
            )
            ref = job_ref_from_raw(event)
            assert ref is not None
            failed = payloads.JobFailed(
                job=ref, reason="DeliveryFailed", message=f"the pipeline stopped: {reasons}"
            )
            broker.publish(
                event.reply(types.JOB_FAILED, "/qiskit-operator/runner", payloads.encode(failed))
            )
            broker.run_until_idle()
            found = self.store.get(key)
            assert found is not None
            return found
        return job

    def _wait_for_provider(self, broker: LocalBroker, key: str) -> QiskitJob:
        """The job, once no provider holds it: while it is Queued or Running, ping as
        the PingSource does on a cluster (there every five minutes, here every
        `HARDWARE_PING_SECONDS`), for at most `HARDWARE_WAIT_SECONDS`."""
        deadline = time.monotonic() + HARDWARE_WAIT_SECONDS
        while True:
            job = self.store.get(key)
            assert job is not None
            phase = job.status.phase if job.status else None
            if phase not in REMOTE or time.monotonic() > deadline:
                return job
            time.sleep(HARDWARE_PING_SECONDS)
            broker.publish(ping_event())
            broker.run_until_idle()


def admit(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the API server adds on create: uid, generation, namespace, timestamp."""
    obj = copy.deepcopy(manifest)
    meta = obj.setdefault("metadata", {})
    meta.setdefault("namespace", "default")
    meta["uid"] = str(uuid.uuid4())
    meta["generation"] = 1
    meta["creationTimestamp"] = (
        datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )
    obj.pop("status", None)
    return obj


def _unchecked_job(obj: dict[str, Any]) -> QiskitJob:
    # The store keeps the job even when its spec is invalid, so that validate can
    # reject it and reconcile can record why, as on a cluster.
    try:
        return QiskitJob.model_validate(obj)
    except ValueError:
        return QiskitJob.model_construct(
            metadata=ObjectMeta.model_validate(obj["metadata"]),
            spec=None,  # type: ignore[arg-type]
            status=None,
        )
