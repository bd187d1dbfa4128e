"""Each function's GET /metrics, read as curl or Prometheus would, after real work: the
three functions as `qop serve` processes with two workers each, the Bell job routed
between them over HTTP by knative/triggers.yaml, status written to the e2e suite's real
kube-apiserver (with two workers, an in-memory store would be two stores).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from qiskit_operator.events import types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.local.devcluster import DevCluster
from qiskit_operator.routing.broker import LocalBroker
from qiskit_operator.routing.delivery import HttpSubscriber, Subscriber
from qiskit_operator.routing.routes import Routes
from qiskit_operator.routing.triggers import load_triggers
from tests.cluster import binaries_or_skip, running_cluster
from tests.conftest import BELL_QASM2, EXAMPLES, ROOT
from tests.integration.test_shutdown import bell_validated, post_in_background
from tests.serving import free_port, served

# Loopback only, and no proxy: what `curl http://127.0.0.1:PORT/metrics` does.
_URLS = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    with _URLS.open(url, timeout=10) as answer:
        text = answer.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def status_of(url: str) -> int:
    try:
        with _URLS.open(url, timeout=10) as answer:
            code: int = answer.status
            return code
    except urllib.error.HTTPError as error:
        return error.code


def count(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    """Its own kube-apiserver: the e2e suite's runs a stack that would handle this job too."""
    with running_cluster(tmp_path_factory.mktemp("cluster"), binaries_or_skip()) as running:
        yield running


@pytest.mark.timeout(240)
def test_curl_of_each_functions_metrics_after_the_bell_pipeline_shows_the_job_counted(
    cluster: DevCluster, tmp_path: Path
) -> None:
    kubeconfig = cluster.service_account_kubeconfig("qiskit-operator", "qiskit-reconcile")
    with contextlib.ExitStack() as running:
        bases = {
            "validate": running.enter_context(served("validate", tmp_path, WORKERS="2"))[1],
            "execute": running.enter_context(served("execute", tmp_path, WORKERS="2"))[1],
            "reconcile": running.enter_context(
                served(
                    "reconcile",
                    tmp_path,
                    WORKERS="2",
                    QOP_STATUS_WRITER="kubernetes",
                    KUBECONFIG=str(kubeconfig),
                )
            )[1],
        }
        cluster.kubectl("apply", "-f", str(EXAMPLES / "bell.yaml"))
        job = json.loads(cluster.kubectl("get", "qjob", "bell", "-o", "json").stdout)
        subscribers: dict[str, Subscriber] = {
            f"qiskit-{name}": HttpSubscriber(f"qiskit-{name}", f"{base}/")
            for name, base in bases.items()
        }
        broker = LocalBroker(Routes(load_triggers(ROOT / "knative" / "triggers.yaml"), subscribers))
        broker.publish(resource_event(job, types.APISERVER_ADD))  # what ApiServerSource sends
        broker.run_until_idle()
        assert broker.failures == []
        job = json.loads(cluster.kubectl("get", "qjob", "bell", "-o", "json").stdout)
        assert job["status"]["phase"] == "Completed"

        validate = scrape(f"{bases['validate']}/metrics")
        assert count(validate, "qop_jobs_total", function="validate", outcome="validated") == 1
        assert count(validate, "qop_jobs_total", function="validate", outcome="rejected") == 0
        assert count(validate, "qop_circuit_qubits_sum") == 2
        assert count(validate, "qop_circuit_depth_sum") == 3
        assert count(validate, "qop_validation_duration_seconds_count", format="python") == 1
        received = {"function": "validate", "type": types.APISERVER_ADD}
        assert count(validate, "qop_events_received_total", **received) == 1
        replied = {"function": "validate", "type": types.JOB_VALIDATED}
        assert count(validate, "qop_events_replied_total", **replied) == 1

        execute = scrape(f"{bases['execute']}/metrics")
        assert count(execute, "qop_jobs_total", function="execute", outcome="completed") == 1
        assert count(execute, "qop_execution_duration_seconds_count", primitive="sampler") == 1
        received = {"function": "execute", "type": types.JOB_VALIDATED}
        assert count(execute, "qop_events_received_total", **received) == 1
        replied = {"function": "execute", "type": types.JOB_COMPLETED}
        assert count(execute, "qop_events_replied_total", **replied) == 1

        reconcile = scrape(f"{bases['reconcile']}/metrics")
        for phase in ("Validating", "Scheduled", "Completed"):
            assert count(reconcile, "qop_job_phase_transitions_total", phase=phase) == 1, phase
        assert count(reconcile, "qop_job_phase_transitions_total", phase="Failed") == 0
        assert count(reconcile, "qop_status_patches_total") == 3
        assert count(reconcile, "qop_status_conflicts_total") == 0
        for event_type in (types.APISERVER_ADD, types.JOB_VALIDATED, types.JOB_COMPLETED):
            received = {"function": "reconcile", "type": event_type}
            assert count(reconcile, "qop_events_received_total", **received) == 1, event_type
        replied = {"function": "reconcile", "type": types.JOB_FINISHED}
        assert count(reconcile, "qop_events_replied_total", **replied) == 1
        for samples in (validate, execute, reconcile):
            errors = [v for (name, _), v in samples.items() if name == "qop_event_errors_total"]
            assert sum(errors) == 0


def completed_by_worker(directory: Path) -> dict[str, float]:
    """Jobs each worker process completed, read from its own multiprocess files."""
    by_worker: dict[str, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = path.stem.removeprefix("counter_")
        alone = directory.parent / f"worker-{pid}"
        alone.mkdir(exist_ok=True)
        shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(alone))  # type: ignore[no-untyped-call]
        value = registry.get_sample_value(
            "qop_jobs_total", {"function": "execute", "outcome": "completed"}
        )
        if value:
            by_worker[pid] = value
    return by_worker


@pytest.mark.timeout(150)
def test_a_scrape_adds_up_the_counts_of_every_worker(tmp_path: Path) -> None:
    # Events are sent in pairs until each of the two workers has completed some (read
    # from each one's own files): then a scrape, which one worker answers, must show the
    # sum, which is more than either worker counted.
    temp = tmp_path / "tmp"
    temp.mkdir()
    with served("execute", tmp_path, WORKERS="2", MAX_WORKERS="1", TMPDIR=str(temp)) as (
        _,
        base,
    ):
        directory = next(temp.glob("qop-metrics-*"))
        sent, deadline = 0, time.monotonic() + 100
        while len(completed_by_worker(directory)) < 2:
            assert time.monotonic() < deadline, f"one worker served all {sent} events"
            pair = [post_in_background(base, bell_validated(time.time() + 0.3)) for _ in "ab"]
            for sender, outcome in pair:
                sender.join(30)
                assert outcome["response"].status_code == 200, outcome
            sent += 2
        by_worker = completed_by_worker(directory)
        samples = scrape(f"{base}/metrics")
    assert sum(by_worker.values()) == sent
    assert max(by_worker.values()) < sent
    assert count(samples, "qop_jobs_total", function="execute", outcome="completed") == sent
    received = {"function": "execute", "type": types.JOB_VALIDATED}
    assert count(samples, "qop_events_received_total", **received) == sent


@pytest.mark.timeout(60)
def test_metrics_addr_serves_metrics_on_a_listener_of_its_own(tmp_path: Path) -> None:
    port = free_port()
    with served("reconcile", tmp_path, WORKERS="2", METRICS_ADDR=f"127.0.0.1:{port}") as (_, base):
        assert requests.post(f"{base}/", data=b"not an event", timeout=10).status_code == 400
        assert status_of(f"{base}/metrics") == 404
        assert status_of(f"http://127.0.0.1:{port}/health") == 404
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
    errors = {"function": "reconcile", "code": "400"}
    assert count(samples, "qop_event_errors_total", **errors) == 1


@pytest.mark.timeout(60)
def test_metrics_addr_zero_serves_no_metrics(tmp_path: Path) -> None:
    with served("reconcile", tmp_path, WORKERS="1", METRICS_ADDR="0") as (_, base):
        assert status_of(f"{base}/metrics") == 404
        assert status_of(f"{base}/health") == 200


@pytest.mark.timeout(90)
def test_validates_metrics_listener_does_not_validate_circuits(tmp_path: Path) -> None:
    port = free_port()
    env = {"WORKERS": "1", "METRICS_ADDR": f"127.0.0.1:{port}"}
    with served("validate", tmp_path, ready_timeout=60, **env) as (_, base):
        request = {"json": {"code": BELL_QASM2}, "timeout": 30}
        on_metrics = requests.post(f"http://127.0.0.1:{port}/validate", **request)
        answer = requests.post(f"{base}/validate", **request)
    assert on_metrics.status_code == 404
    assert answer.status_code == 200 and answer.json()["valid"] is True
