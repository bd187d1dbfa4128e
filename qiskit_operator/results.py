"""Full results, kept where they last: a file under the results directory.

Execute writes the full result (every outcome, every sweep point, the data that
makes the run reproducible) as JSON or CSV; events carry only its location.
With `spec.output.type: pvc` the file is the result; with `configmap`, reconcile
reads it back and writes a ConfigMap owned by the job. On a cluster the
directory is a volume both functions mount. Imports no Qiskit.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.events.payloads import JobRef, OutputRequest

CONFIGMAP_LIMIT = 900 * 1024  # a ConfigMap holds 1 MiB; leave room for its metadata
_SAFE = re.compile(r"^[A-Za-z0-9._/-]+$")


@dataclass(frozen=True, slots=True)
class ResultStore:
    root: Path

    def path_for(self, job: JobRef, output: OutputRequest) -> Path:
        if output.path:
            relative = output.path.strip("/")
            if not _SAFE.match(relative) or ".." in relative.split("/"):
                raise UserError(
                    f"output.path {output.path!r} may hold only letters, digits and "
                    "._/- and no '..'",
                    reason="InvalidSpec",
                )
        else:
            relative = f"{job.namespace}/{job.name}-{job.uid[:8] or 'local'}-g{job.generation}"
        suffix = "." + output.format
        if not relative.endswith(suffix):
            relative += suffix
        return self.root / relative

    def put(self, job: JobRef, output: OutputRequest, document: bytes) -> str:
        """Write the document; its location (a file:// URL) for the event."""
        path = self.path_for(job, output)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(path.name + ".partial")
            temporary.write_bytes(document)
            os.replace(temporary, path)  # readers never see half a result
        except OSError as error:
            raise TransientError(
                f"the result could not be written to {path}: {error.strerror}"
            ) from error
        return path.resolve().as_uri()

    def get(self, location: str) -> bytes:
        if not location.startswith("file://"):
            raise UserError(f"result location {location!r} is not a file", reason="InvalidEvent")
        path = Path(location.removeprefix("file://"))
        try:
            path.resolve().relative_to(self.root.resolve())
            return path.read_bytes()
        except ValueError as error:
            raise UserError(
                f"result location {location!r} is outside the results directory",
                reason="InvalidEvent",
            ) from error
        except OSError as error:
            raise TransientError(
                f"the result at {path} could not be read: {error.strerror}"
            ) from error


def render(document: dict[str, Any], fmt: str) -> bytes:
    """The full result as JSON, or as CSV with one row per (binding, outcome or observable)."""
    if fmt == "json":
        return json.dumps(document, indent=1, sort_keys=False).encode()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    points = document["points"]
    width = max((len(p["parameters"]) for p in points), default=0)
    params = [f"parameter_{i}" for i in range(width)]
    if document["primitive"] == "estimator":
        writer.writerow(["binding", *params, "observable", "expectation_value", "standard_error"])
        for index, point in enumerate(points):
            for observable, value, error in zip(
                document["observables"],
                point["expectation_values"],
                point["standard_errors"],
                strict=True,
            ):
                writer.writerow([index, *point["parameters"], observable, value, error])
    else:
        writer.writerow(["binding", *params, "outcome", "count"])
        for index, point in enumerate(points):
            for outcome, count in sorted(point["counts"].items()):
                writer.writerow([index, *point["parameters"], outcome, count])
    return buffer.getvalue().encode()
