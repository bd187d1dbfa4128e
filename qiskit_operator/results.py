"""Full results, kept where they last: a file under the results directory.

Execute writes the full result (every outcome, every sweep point, the data that
makes the run reproducible) as JSON or CSV; events carry only its location.
With `spec.output.type: pvc` the file is the result; with `configmap`, reconcile
reads it back and writes a ConfigMap owned by the job. On a cluster the
directory is a volume both functions mount, shared by every namespace: each
job's files are confined to `<root>/<namespace>/` (DESIGN.md §6), and reconcile
reads only the file the job expects now, never a path an event names.
Imports no Qiskit.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from qiskit_operator.errors import TransientError, UserError
from qiskit_operator.events.payloads import JobRef, OutputRequest
from qiskit_operator.models.spec import OUTPUT_PATH_MESSAGE, output_path_holds

CONFIGMAP_LIMIT = 900 * 1024  # a ConfigMap holds 1 MiB; leave room for its metadata
MAX_GENERATIONS_REMOVED = 1000
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Never follow a link: a symlink planted anywhere under the root must not lead out of it.
_NOFOLLOW = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True, slots=True)
class ResultStore:
    """The results directory. Every job's files live under `<root>/<its namespace>/`, and
    each is reached one directory at a time without following symlinks, so no job reads
    or writes another namespace's results, whatever its `output.path` says."""

    root: Path

    def relative_for(self, job: JobRef, output: OutputRequest) -> tuple[str, ...]:
        """The parts of the job's result path under the root: its namespace first."""
        if not _NAMESPACE.match(job.namespace):
            raise UserError(
                f"namespace {job.namespace!r} is not a Kubernetes namespace name",
                reason="InvalidEvent",
            )
        if output.path:
            if not output_path_holds(output.path):
                raise UserError(OUTPUT_PATH_MESSAGE, reason="InvalidSpec")
            relative = output.path
        else:
            relative = f"{job.name}-{job.uid[:8] or 'local'}-g{job.generation}"
        suffix = "." + output.format
        if not relative.endswith(suffix):
            relative += suffix
        return (job.namespace, *relative.split("/"))

    def path_for(self, job: JobRef, output: OutputRequest) -> Path:
        return self.root.joinpath(*self.relative_for(job, output))

    def location_for(self, job: JobRef, output: OutputRequest) -> str:
        """The file:// URL of the job's result: what execute's event must name."""
        return self.root.resolve().joinpath(*self.relative_for(job, output)).as_uri()

    def put(self, job: JobRef, output: OutputRequest, document: bytes) -> str:
        """Write the document; its location (a file:// URL) for the event."""
        *folders, name = self.relative_for(job, output)
        path = self.path_for(job, output)
        try:
            with self._folder(folders, create=True) as folder:
                temporary = name + ".partial"
                fd = os.open(
                    temporary,
                    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW,
                    0o644,
                    dir_fd=folder,
                )
                with os.fdopen(fd, "wb") as file:
                    file.write(document)
                # readers never see half a result
                os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
        except OSError as error:
            raise _failure(error, "written to", path, output) from error
        return self.location_for(job, output)

    def read(self, job: JobRef, output: OutputRequest) -> bytes:
        """The result `put` wrote for exactly this job, uid and generation."""
        *folders, name = self.relative_for(job, output)
        path = self.path_for(job, output)
        try:
            with self._folder(folders, create=False) as folder:
                fd = os.open(name, os.O_RDONLY | _NOFOLLOW, dir_fd=folder)
                with os.fdopen(fd, "rb") as file:
                    return file.read()
        except OSError as error:
            raise _failure(error, "read from", path, output) from error

    def remove_job(self, job: JobRef, output: OutputRequest | None) -> int:
        """Remove what `put` wrote for `job` (this uid), for each of its generations up to
        `job.generation` (the last MAX_GENERATIONS_REMOVED): at its output.path now and
        at the default path, in either format. Called by execute, which wrote them, when
        the job is deleted. Returns how many files went."""
        paths = {None, output.path if output is not None else None}
        first = max(1, job.generation - MAX_GENERATIONS_REMOVED + 1)
        removed = 0
        for generation in range(first, job.generation + 1):
            each = msgspec.structs.replace(job, generation=generation)
            for path in paths:
                for fmt in ("json", "csv"):
                    request = OutputRequest(type="pvc", path=path, format=fmt)
                    removed += self._remove(each, request)
        return removed

    def _remove(self, job: JobRef, output: OutputRequest) -> int:
        *folders, name = self.relative_for(job, output)
        try:
            with self._folder(folders, create=False) as folder:
                removed = 0
                for each in (name, name + ".partial"):
                    with suppress(FileNotFoundError):
                        os.unlink(each, dir_fd=folder)
                        removed += 1
                return removed
        except FileNotFoundError:
            return 0  # no folder: nothing was written there
        except OSError as error:
            raise _failure(error, "removed from", self.path_for(job, output), output) from error

    @contextmanager
    def _folder(self, parts: list[str], *, create: bool) -> Iterator[int]:
        """A descriptor of root/parts..., opened one step at a time, never through a link."""
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        try:
            for part in parts:
                if create:
                    with suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)


def _failure(error: OSError, doing: str, path: Path, output: OutputRequest) -> Exception:
    # ELOOP: a symlink where a file was expected; ENOTDIR: a link (or file) where a folder was.
    if error.errno in (errno.ELOOP, errno.ENOTDIR):
        return UserError(
            f"the result could not be {doing} {path}: a part of output.path "
            f"{output.path or '(default)'} is a symbolic link or not a folder, and results "
            "never follow links; choose another output.path",
            reason="OutputRefused",
        )
    return TransientError(f"the result could not be {doing} {path}: {error.strerror}")


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
