"""Issue 20's bugs, replayed on the real kube-apiserver with reconcile (in this process)
writing as its own ServiceAccount: a status never mixes two runs, a retry is not lost
when a step after its status write fails, a late answer never replaces newer results,
a re-created job's results wait for the garbage collector instead of failing, and a
run with no answer past its lease is asked for again.

Where a failure or a concurrent writer must come at one exact moment, the connection is
wrapped (`Interleaved`) so that it happens just before one call; every call still goes
to the real API server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from qiskit_operator.errors import TransientError
from qiskit_operator.events import payloads, types
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.status import KubeStatusWriter
from qiskit_operator.local.devcluster import DevCluster
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from tests import replies
from tests.conftest import job_manifest

NS = "default"
OUTPUT = payloads.OutputRequest(type="configmap", format="json")


class Interleaved:
    """A KubeConnection whose next call of a chosen method first runs `action` (a user or
    a second worker acting meanwhile) or fails with an HTTP status."""

    def __init__(self, connection: KubeConnection) -> None:
        self._connection = connection
        self.before: dict[str, list[Callable[[], object]]] = {}

    def on(self, method: str, action: Callable[[], object]) -> None:
        self.before.setdefault(method, []).append(action)

    def fail(self, method: str, status: int) -> None:
        def refuse() -> None:
            raise ApiException(status=status, reason="injected")

        self.on(method, refuse)

    def _wrap(self, api: Any) -> Any:
        interleaved = self

        class Wrapped:
            def __getattr__(self, name: str) -> Any:
                call = getattr(api, name)

                def calling(*args: Any, **kwargs: Any) -> Any:
                    pending = interleaved.before.get(name)
                    if pending:
                        pending.pop(0)()
                    return call(*args, **kwargs)

                return calling

        return Wrapped()

    def custom(self) -> Any:
        return self._wrap(self._connection.custom())

    def core(self) -> Any:
        return self._wrap(self._connection.core())


class Replay:
    def __init__(self, cluster: DevCluster, tmp_path: Path, name: str) -> None:
        self.cluster, self.name = cluster, name
        account = cluster.service_account_kubeconfig("qiskit-operator", "qiskit-reconcile")
        self.connection = Interleaved(KubeConnection(str(account)))
        self.results = ResultStore(tmp_path)
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.reconcile = Reconciler(
            KubeStatusWriter(self.connection),  # type: ignore[arg-type]
            self.results,
            clock=lambda: self.now,
            lease=timedelta(minutes=10),
        )

    def apply(self, shots: int = 10, output: bool = False) -> payloads.JobRef:
        manifest = job_manifest(name=self.name, shots=shots)
        if output:
            manifest["spec"]["output"] = {"type": "configmap", "format": "json"}
        self.cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
        return replies.ref_of(self.get("qjob", self.name))

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(
            self.cluster.kubectl("get", kind, name, "-n", NS, "-o", "json").stdout
        )
        return found

    def status(self) -> dict[str, Any]:
        return dict(self.get("qjob", self.name).get("status") or {})

    def handle(self, reply: payloads.Reply) -> Any:
        return self.reconcile.handle(replies.envelope(reply))

    def completion(self, ref: payloads.JobRef, document: dict[str, Any]) -> payloads.JobCompleted:
        location = self.results.put(ref, OUTPUT, json.dumps(document).encode())
        return replies.completed(ref, {"00": 1}, location=location)

    def results_configmap(self) -> dict[str, Any]:
        return self.get("configmap", f"{self.name}-results")


@pytest.fixture
def replay(
    quiet_cluster: DevCluster, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Replay]:
    cluster = quiet_cluster
    name = request.node.name.removeprefix("test_").replace("_", "-")[:40].strip("-")
    running = Replay(cluster, tmp_path, name)
    yield running
    cluster.kubectl("delete", "qjob", name, "-n", NS, "--ignore-not-found", "--wait=false")


def delivered(replay: Replay, completion: payloads.JobCompleted) -> Any:
    """The completion handled, or None (after a short wait) while reconcile says it waits
    for the garbage collector."""
    try:
        return replay.handle(completion)
    except TransientError as waiting:
        if "garbage collector" not in str(waiting):
            raise
        time.sleep(0.5)
        return None


def test_a_spec_change_answered_before_its_update_event_leaves_one_run_in_the_status(
    replay: Replay,
) -> None:
    first = replay.apply(shots=10)
    replay.handle(replies.validated(first, {"h": 1, "cx": 1, "measure": 2}))
    replay.handle(replies.completed(first, {"00": 5, "11": 5}))
    second = replay.apply(shots=20)
    replay.handle(replies.validated(second, {"x": 1, "measure": 2}))
    replay.handle(replies.completed(second, {"01": 10}))
    status = replay.status()
    assert status["observedGeneration"] == 2
    assert status["circuitMetadata"]["gateTypes"] == {"x": 1, "measure": 2}
    assert status["results"]["counts"] == {"01": 10}
    assert {c["observedGeneration"] for c in status["conditions"]} == {2}


def test_a_retry_whose_event_failed_is_sent_when_the_failure_is_delivered_again(
    replay: Replay,
) -> None:
    ref = replay.apply()
    replay.handle(replies.validated(ref))
    replay.connection.fail("create_namespaced_event", 500)
    with pytest.raises(TransientError):
        replay.handle(replies.transient(ref, attempt=0))
    assert replay.status()["phase"] == "Retrying"
    again = replay.handle(replies.transient(ref, attempt=0))
    assert again is not None and again.type == types.JOB_VALIDATED
    sent = payloads.decode(again.type, again.data)
    assert isinstance(sent, payloads.JobValidated) and sent.execution.attempt == 1
    assert replay.status()["retryCount"] == 1


def test_a_late_answer_of_generation_one_never_replaces_generation_twos_results(
    replay: Replay,
) -> None:
    first = replay.apply(shots=10, output=True)
    replay.handle(replies.validated(first, output=OUTPUT))
    late = replay.completion(first, {"generation": 1})

    def meanwhile() -> None:  # the spec changes and generation 2 completes first
        second = replay.apply(shots=20, output=True)
        replay.handle(replies.validated(second, output=OUTPUT))
        replay.handle(replay.completion(second, {"generation": 2}))

    replay.connection.on("create_namespaced_config_map", meanwhile)
    assert replay.handle(late) is None
    held = replay.results_configmap()
    assert json.loads(held["data"]["result.json"]) == {"generation": 2}
    assert held["metadata"]["annotations"]["quantum.io/generation"] == "2"
    status = replay.status()
    assert (status["phase"], status["observedGeneration"]) == ("Completed", 2)


def test_a_recreated_job_waits_for_the_collector_and_a_late_answer_of_the_old_one_is_refused(
    replay: Replay,
) -> None:
    old = replay.apply(output=True)
    replay.handle(replies.validated(old, output=OUTPUT))
    late = replay.completion(old, {"uid": "old"})
    replay.handle(late)
    assert replay.status()["phase"] == "Completed"
    replay.cluster.kubectl("delete", "qjob", replay.name, "-n", NS, "--wait=false")
    new = replay.apply(output=True)
    assert new.uid != old.uid
    replay.handle(replies.validated(new, output=OUTPUT))
    completion = replay.completion(new, {"uid": "new"})
    deadline = time.monotonic() + 90
    finished = None
    while finished is None:  # Knative delivers it again until the old ConfigMap is collected
        assert time.monotonic() < deadline, "the old ConfigMap outlived its job by 90 s"
        finished = delivered(replay, completion)
    assert finished is not None and replay.status()["phase"] == "Completed"
    held = replay.results_configmap()
    assert held["metadata"]["ownerReferences"][0]["uid"] == new.uid
    assert json.loads(held["data"]["result.json"]) == {"uid": "new"}
    with pytest.raises(Exception, match="another object of that name"):
        replay.handle(late)
    assert json.loads(replay.results_configmap()["data"]["result.json"]) == {"uid": "new"}


def test_a_run_with_no_answer_past_its_lease_is_asked_for_again(replay: Replay) -> None:
    ref = replay.apply()
    replay.handle(replies.validated(ref))
    replay.now += timedelta(minutes=11)
    assert ref in replay.reconcile.resync()
    status = replay.status()
    assert status["phase"] == "Scheduled"
    (asked,) = [c for c in status["conditions"] if c["type"] == "Requeued"]
    assert (asked["status"], asked["observedGeneration"]) == ("True", 1)
    described = replay.cluster.kubectl("describe", "qjob", replay.name, "-n", NS).stdout
    assert "Requeued" in described
