"""The embedded pipeline as a `JobRunner`: `Sampler(local=True)` on a laptop, no cluster.

The same three functions and Trigger routing as `qop run`, started once per
primitive on first use and run one job at a time on a worker thread, so `run()`
returns at once as it does against a cluster. A job not yet started can be
cancelled; one running finishes (the pipeline runs it to its end in one go).
"""

from __future__ import annotations

import atexit
import json
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from qiskit_operator.client.runners import RESULT_KEY
from qiskit_operator.local.pipeline import LocalPipeline
from qiskit_operator.models import QiskitJob

Body = dict[str, Any]


class LocalRunner:
    def __init__(self, namespace: str = "default") -> None:
        self.namespace = namespace
        self._lock = threading.Lock()
        self._pipeline: LocalPipeline | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qop-local")
        self._runs: dict[str, Future[QiskitJob]] = {}
        # A notebook seldom calls close(): the pipeline's sandbox children still end
        # with the interpreter.
        atexit.register(self.close)

    def submit(self, manifest: Body) -> None:
        name = manifest["metadata"]["name"]
        with self._lock:
            self._runs[name] = self._worker.submit(self._run, manifest)

    def _run(self, manifest: Body) -> QiskitJob:
        with self._lock:
            if self._pipeline is None:
                self._pipeline = LocalPipeline().__enter__()
            pipeline = self._pipeline
        return pipeline.run(manifest)

    def current(self, name: str) -> QiskitJob | None:
        run = self._runs[name]
        if run.cancelled():
            return None
        if run.done():
            return run.result()
        pipeline = self._pipeline
        found = pipeline.store.get(f"{self.namespace}/{name}") if pipeline else None
        return found or _pending(name, self.namespace)

    def wait(
        self,
        name: str,
        timeout: float | None,
        on_change: Callable[[QiskitJob], None] | None = None,
    ) -> QiskitJob | None:
        try:
            job = self._runs[name].result(timeout)
        except CancelledError:
            return None
        except FutureTimeout as error:
            raise TimeoutError(f"qiskitjob {name} did not finish in time") from error
        if on_change is not None:
            on_change(job)
        return job

    def result_document(self, name: str) -> Body:
        pipeline = self._pipeline
        assert pipeline is not None  # a job completed, so the pipeline ran
        owned = pipeline.store.configmaps[(self.namespace, f"{name}-results")]
        return dict(json.loads(owned.data[RESULT_KEY]))

    def cancel(self, name: str) -> bool:
        return self._runs[name].cancel()

    def close(self) -> None:
        atexit.unregister(self.close)
        self._worker.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            if self._pipeline is not None:
                self._pipeline.__exit__(None, None, None)
                self._pipeline = None


def _pending(name: str, namespace: str) -> QiskitJob:
    return QiskitJob.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"circuit": {"code": "-"}},
            "status": {"phase": "Pending"},
        }
    )
