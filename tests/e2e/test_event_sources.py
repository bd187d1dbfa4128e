"""`qop watch` and Knative's ApiServerSource adapter send the same events, attribute by
attribute, for the same objects."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import from_request
from qiskit_operator.local.devcluster import DevCluster
from qiskit_operator.local.oidc import identities_manifest
from qiskit_operator.local.stack import NAMESPACE, Process, adapter_environment
from tests.conftest import example

IGNORED = {"id", "time"}  # differ between any two events by definition


class Sink:
    def __init__(self) -> None:
        self.events: list[Envelope] = []
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @Request.application  # type: ignore[untyped-decorator]
    def _app(self, request: Request) -> Response:
        self.events.append(from_request(dict(request.headers), request.get_data()))
        return Response(status=202)

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture
def sources(cluster: DevCluster, tmp_path: Path) -> Iterator[tuple[Sink, Sink]]:
    adapter_sink, watch_sink = Sink(), Sink()
    # The adapter's OIDC ServiceAccount and its right to request that account's tokens,
    # as a stack applies them: this test must not depend on one having run before it.
    cluster.kubectl("apply", "-f", "-", stdin=identities_manifest([]))
    kubeconfig = str(cluster.service_account_kubeconfig(NAMESPACE, "qiskit-job-source"))
    assert cluster.binaries.adapter is not None
    adapter = Process(
        [str(cluster.binaries.adapter), "--kubeconfig", kubeconfig],
        {**os.environ, **adapter_environment(adapter_sink.url, kubeconfig)},
        tmp_path / "adapter.log",
    )
    watcher = Process(
        [sys.executable, "-m", "qiskit_operator.cli", "watch", "--sink", watch_sink.url],
        {**os.environ, "KUBECONFIG": kubeconfig},
        tmp_path / "watch.log",
    )
    adapter.start()
    watcher.start()
    try:
        live(cluster, adapter_sink, watch_sink)
        yield adapter_sink, watch_sink
    finally:
        adapter.stop()
        watcher.stop()
        adapter_sink.stop()
        watch_sink.stop()
        print(adapter.tail())


def about(sink: Sink, name: str) -> list[Envelope]:
    """The sink's events about one job: jobs other tests deleted may still be going."""
    return [e for e in list(sink.events) if (e.subject or "").endswith(f"/{name}")]


def live(cluster: DevCluster, *sinks: Sink) -> None:
    """Waits until every source is watching. Neither sends anything for the jobs its
    first list finds (Knative's adapter drops them), so a job applied while a source
    is still starting is never sent: apply a fresh one each second until every sink
    has had an event about one of them."""
    probes: list[str] = []
    deadline = time.monotonic() + 30
    while not all(any(about(sink, name) for name in probes) for sink in sinks):
        assert time.monotonic() < deadline, "a source sent nothing within 30 s"
        manifest = example("bell.yaml")
        manifest["metadata"]["name"] = f"sources-live-{len(probes)}"
        cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
        probes.append(manifest["metadata"]["name"])
        time.sleep(1.0)
    cluster.kubectl("delete", "qjob", *probes)


def attributes(event: Envelope) -> dict[str, object]:
    return {
        "type": event.type,
        "source": event.source,
        "subject": event.subject,
        "datacontenttype": event.datacontenttype,
        **event.extensions,
    }


def test_both_sources_send_the_same_events_for_a_job(
    cluster: DevCluster, sources: tuple[Sink, Sink]
) -> None:
    adapter_sink, watch_sink = sources
    manifest = example("bell.yaml")
    manifest["metadata"]["name"] = "compared"
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    cluster.kubectl("delete", "qjob", "compared")
    deleted = "dev.knative.apiserver.resource.delete"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(
        any(e.type == deleted for e in about(sink, "compared"))
        for sink in (adapter_sink, watch_sink)
    ):
        time.sleep(0.2)
    theirs_all, ours_all = about(adapter_sink, "compared"), about(watch_sink, "compared")
    assert [e.type for e in theirs_all] == [e.type for e in ours_all]
    assert theirs_all[0].type == "dev.knative.apiserver.resource.add"
    assert theirs_all[-1].type == deleted
    for theirs, ours in zip(theirs_all, ours_all, strict=True):
        assert attributes(ours) == attributes(theirs)
        assert json.loads(ours.data) == json.loads(theirs.data)
        assert not (set(theirs.extensions) ^ set(ours.extensions)) - IGNORED
