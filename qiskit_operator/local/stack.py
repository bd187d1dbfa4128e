"""The whole system on loopback against a real API server: the three functions as
`qop serve` processes with their ServiceAccounts' tokens, a Broker routing by
knative/triggers.yaml, an event source watching QiskitJobs, and a ping every five
minutes for reconcile's resync, as knative/pingsource.yaml sends on a cluster.

Events are authenticated as on a cluster with Knative's OIDC sender identity on:
the Stack makes the sources' and Triggers' OIDC ServiceAccounts (Knative's
controller does on a cluster), each function checks tokens with the audience and
senders knative/services.yaml gives it, the Broker checks knative/eventpolicies.yaml
and delivers with each Trigger's token, and the source and the ping send tokens of
their own (routing/senders.py, auth/).

Used by the e2e tests and benchmarks/cluster.py, on a `DevCluster`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

from qiskit_operator.auth.keys import ApiServerDocuments, IssuerKeys
from qiskit_operator.auth.policy import load_broker_policy
from qiskit_operator.auth.tokens import RequestedToken, authorization
from qiskit_operator.auth.verifying import SenderVerifier
from qiskit_operator.events import types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import to_binary
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.local.devcluster import REPO, DevCluster, free_port
from qiskit_operator.local.oidc import (
    BROKER,
    BROKER_AUDIENCE,
    JOB_SOURCE_IDENTITY,
    KNATIVE,
    NAMESPACE,
    PING_IDENTITY,
    identities_manifest,
    service_env,
)
from qiskit_operator.routing.delivery import HttpSubscriber, Subscriber
from qiskit_operator.routing.ingress import BrokerServer
from qiskit_operator.routing.routes import Routes
from qiskit_operator.routing.senders import BrokerAuth, TriggerTokens
from qiskit_operator.routing.triggers import load_triggers

FUNCTIONS = ("validate", "execute", "reconcile")
PING_SOURCE = f"/apis/v1/namespaces/{NAMESPACE}/pingsources/qiskit-resync"


def ping_event() -> Envelope:
    """What knative/pingsource.yaml sends every five minutes (as Knative's
    PingSource does)."""
    return Envelope(
        type=types.PING,
        source=PING_SOURCE,
        data=b'{"sweep": "unseen-generations"}',
    )


@dataclass
class Process:
    """A child process in its own group, logging to a file."""

    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def tail(self, size: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""


@dataclass
class FunctionProcess(Process):
    name: str = ""
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "ready", timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or no worker warm enough to take the connection
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready:\n{self.tail()}")


def _qop(*args: str) -> list[str]:
    return [sys.executable, "-m", "qiskit_operator.cli", *args]


def _function_env(cluster: DevCluster, name: str, results: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env.update(
        {
            "WORKERS": "1",
            "MAX_WORKERS": "16",
            "QOP_RESULTS_DIR": str(results),
            "QOP_SANDBOX_WARM": "2",
        }
    )
    if name == "reconcile":
        env["QOP_STATUS_WRITER"] = "kubernetes"
    # Each function acts as its own ServiceAccount; execute's reads only the provider
    # credentials a namespace grants it (knative/rbac.yaml).
    env["KUBECONFIG"] = str(cluster.service_account_kubeconfig(NAMESPACE, f"qiskit-{name}"))
    env.update(_auth_env(cluster, name))
    return env


def _auth_env(cluster: DevCluster, name: str) -> dict[str, str]:
    """Who may send to function `name`, as knative/services.yaml says, and how it reads
    the API server's keys: with its own ServiceAccount's token, like a pod's."""
    token = cluster.workdir / f"{name}.token"
    token.write_text(
        cluster.kubectl(
            "create", "token", f"qiskit-{name}", "-n", NAMESPACE, "--duration", "2h"
        ).stdout.strip()
    )
    env = {
        "QOP_AUTH_API_SERVER": cluster.server,
        "QOP_AUTH_API_CA_FILE": str(cluster.ca_file),
        "QOP_AUTH_API_TOKEN_FILE": str(token),
    }
    for variable in ("QOP_AUTH_AUDIENCE", "QOP_AUTH_SENDERS"):
        env[variable] = service_env(f"qiskit-{name}")[variable]
    return env


def _progress_env(cluster: DevCluster, broker_url: str) -> dict[str, str]:
    """Where execute sends a sweep's progress, with a token of its own ServiceAccount's
    for the Broker's audience, as the projected volume of knative/services.yaml holds."""
    token = cluster.workdir / "execute-broker.token"
    token.write_text(
        cluster.kubectl(
            "create",
            "token",
            "qiskit-execute",
            "-n",
            NAMESPACE,
            "--audience",
            BROKER_AUDIENCE,
            "--duration",
            "2h",
        ).stdout.strip()
    )
    return {"QOP_PROGRESS_SINK": broker_url, "QOP_PROGRESS_TOKEN_FILE": str(token)}


@dataclass
class Stack:
    cluster: DevCluster
    workdir: Path
    source_kind: str = "watch"  # or "adapter": Knative's ApiServerSource receive adapter
    ping_seconds: float | None = 300.0  # None: only when `ping` is called
    function_env: dict[str, str] = field(default_factory=dict)  # for every function
    functions: dict[str, FunctionProcess] = field(default_factory=dict)
    broker: BrokerServer | None = None
    source: Process | None = None
    _ping_token: RequestedToken | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Stack:
        results = self.workdir / "results"
        triggers = load_triggers(KNATIVE / "triggers.yaml")
        self.cluster.kubectl("apply", "-f", "-", stdin=identities_manifest(triggers))
        admin = KubeConnection(str(self.cluster.kubeconfig))
        self._ping_token = RequestedToken(admin, NAMESPACE, PING_IDENTITY, BROKER_AUDIENCE)
        # The Broker starts once the functions it routes to are up; execute must know
        # its address before that, to send progress there.
        broker_port = free_port()
        progress = _progress_env(self.cluster, f"http://127.0.0.1:{broker_port}/")
        for name in FUNCTIONS:
            port = free_port()
            env = _function_env(self.cluster, name, results)
            if name == "execute":
                env.update(progress)
            self.functions[name] = FunctionProcess(
                argv=_qop("serve", name, "--host", "127.0.0.1", "--port", str(port)),
                env={**env, **self.function_env},
                log=self.workdir / f"{name}.log",
                name=name,
                port=port,
            )
        for function in self.functions.values():
            function.start()
        for function in self.functions.values():
            function.wait_ready()
        subscribers: dict[str, Subscriber] = {
            f"qiskit-{name}": HttpSubscriber(f"qiskit-{name}", f.url)
            for name, f in self.functions.items()
        }
        routes = Routes(triggers, subscribers)
        self.broker = BrokerServer(routes, port=broker_port, auth=self._broker_auth(admin)).start()
        self.restart_source()
        if self.ping_seconds is not None:
            threading.Thread(target=self._pinging, args=(self.ping_seconds,), daemon=True).start()
        return self

    def _broker_auth(self, admin: KubeConnection) -> BrokerAuth:
        """Knative's Broker with OIDC on: the Broker's audience, its EventPolicies, and
        each Trigger's tokens (requested with the admin's rights, as Knative's are wide)."""
        # Any ServiceAccount may read the keys (Kubernetes binds the discovery role to
        # all); the job source's is at hand.
        token = self.workdir / "broker.token"
        token.write_text(
            self.cluster.kubectl(
                "create", "token", "qiskit-job-source", "-n", NAMESPACE, "--duration", "2h"
            ).stdout.strip()
        )
        documents = ApiServerDocuments(self.cluster.server, self.cluster.ca_file, token)
        return BrokerAuth(
            verifier=SenderVerifier(IssuerKeys(documents), BROKER_AUDIENCE, senders=()),
            policy=load_broker_policy(KNATIVE / "eventpolicies.yaml", BROKER),
            tokens=TriggerTokens(admin),
        )

    def restart_source(self) -> None:
        """(Re)start the event source. It sends nothing about what happened while it
        was down, nor about the jobs it finds when it starts; the resync does."""
        if self.source is not None:
            self.source.stop()
        assert self.broker is not None, "start() first"
        self.source = self._source(self.broker.url)
        self.source.start()
        time.sleep(2.0)  # a source says nothing about jobs that exist when it starts

    def ping(self) -> str:
        """Send the Broker one PingSource event: reconcile resyncs (`ping_event`); the
        event's id, to find its delivery in `broker.delivered`."""
        assert self.broker is not None, "start() first"
        event = ping_event()
        headers, body = to_binary(event)
        headers.update(authorization(self._ping_token))  # as the PingSource's identity
        answer = requests.post(self.broker.url, data=body, headers=headers, timeout=30)
        answer.raise_for_status()
        return event.id

    def _pinging(self, seconds: float) -> None:
        while not self._stopping.wait(seconds):
            try:
                self.ping()
            except requests.RequestException as error:  # the next ping tries again
                print(f"resync ping failed: {error}", file=sys.stderr)

    def _source(self, sink: str) -> Process:
        kubeconfig = str(self.cluster.service_account_kubeconfig(NAMESPACE, "qiskit-job-source"))
        env = {**os.environ, "KUBECONFIG": kubeconfig}
        # As Knative's controller sets them on the adapter; `qop watch` reads the same.
        env.update(
            {
                "K_AUDIENCE": BROKER_AUDIENCE,
                "K_OIDC_SERVICE_ACCOUNT": JOB_SOURCE_IDENTITY,
                "NAMESPACE": NAMESPACE,
            }
        )
        if self.source_kind == "watch":
            return Process(_qop("watch", "--sink", sink), env, self.workdir / "source.log")
        adapter = self.cluster.binaries.adapter
        if adapter is None:
            raise RuntimeError("the Knative adapter was not built (Binaries.build(with_adapter))")
        env.update(adapter_environment(sink, kubeconfig))
        return Process([str(adapter), "--kubeconfig", kubeconfig], env, self.workdir / "source.log")

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(*args, stdin=stdin, check=check)

    def logs(self) -> str:
        parts = [f"--- {name}\n{f.tail(1500)}" for name, f in self.functions.items()]
        if self.source is not None:
            parts.append(f"--- source\n{self.source.tail(1500)}")
        return "\n".join(parts)

    def stop(self) -> None:
        self._stopping.set()
        if self.source is not None:
            self.source.stop()
        if self.broker is not None:
            self.broker.stop()
        for function in self.functions.values():
            function.stop()


def adapter_environment(sink: str, kubeconfig: str) -> dict[str, str]:
    """What Knative's controller gives the receive adapter's Deployment, for QiskitJobs."""
    config = {
        "namespaces": [],
        "allNamespaces": True,
        "resources": [{"gvr": {"Group": "quantum.io", "Version": "v1", "Resource": "qiskitjobs"}}],
        "mode": "Resource",
    }
    return {
        "K_SINK": sink,
        "K_AUDIENCE": BROKER_AUDIENCE,
        "K_OIDC_SERVICE_ACCOUNT": JOB_SOURCE_IDENTITY,
        "K_SOURCE_CONFIG": json.dumps(config),
        "NAME": "qiskit-jobs",
        "NAMESPACE": NAMESPACE,
        "SYSTEM_NAMESPACE": "knative-eventing",
        "KUBECONFIG": kubeconfig,
        "METRICS_DOMAIN": "knative.dev/eventing",
        "K_LOGGING_CONFIG": json.dumps(
            {
                "zap-logger-config": json.dumps(
                    {
                        "level": "info",
                        "encoding": "json",
                        "outputPaths": ["stdout"],
                        "errorOutputPaths": ["stderr"],
                    }
                )
            }
        ),
        "K_METRICS_CONFIG": json.dumps(
            {"Domain": "knative.dev/eventing", "Component": "apiserversource", "ConfigMap": {}}
        ),
        "K_TRACING_CONFIG": json.dumps({"backend": "none"}),
    }
