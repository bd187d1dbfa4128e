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
    time.sleep(3)
    try:
        yield adapter_sink, watch_sink
    finally:
        adapter.stop()
        watcher.stop()
        adapter_sink.stop()
        watch_sink.stop()
        print(adapter.tail())


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
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        len(adapter_sink.events) < 2 or len(watch_sink.events) < 2
    ):
        time.sleep(0.2)
    assert [e.type for e in adapter_sink.events] == [e.type for e in watch_sink.events]
    assert len(adapter_sink.events) >= 2
    for theirs, ours in zip(adapter_sink.events, watch_sink.events, strict=True):
        assert attributes(ours) == attributes(theirs)
        assert json.loads(ours.data) == json.loads(theirs.data)
        assert not (set(theirs.extensions) ^ set(ours.extensions)) - IGNORED
