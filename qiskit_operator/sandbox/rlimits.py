"""Resource limits of a sandboxed process: CPU, memory, processes, files, core dumps.

Applied by `confinement` in validate's children (after their warm-up) and in
execute's worker (after its imports). Soft and hard limits are set alike, so a
program cannot raise them again.
"""

from __future__ import annotations

import os
import resource

import msgspec


class ResourceLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What one sandboxed process may use."""

    cpu_seconds: int | None
    """RLIMIT_CPU: SIGXCPU, then SIGKILL a second later; None for a process that
    serves many jobs (execute's worker, stopped by its deadline instead)."""
    memory_bytes: int
    """Address space on top of what the process has mapped when the limits are set."""
    max_processes: int | None
    """RLIMIT_NPROC: tasks (processes and threads) of this user; None leaves it.
    The kernel does not apply it to root."""
    max_open_files: int
    """RLIMIT_NOFILE: descriptors, including those already open."""


def _set(which: int, value: int) -> None:
    resource.setrlimit(which, (value, value))


def current_address_space() -> int:
    """Bytes this process has mapped now, the base its memory limit adds to."""
    fd = os.open("/proc/self/statm", os.O_RDONLY)  # os.open: no text layer, in a hot path
    try:
        return int(os.read(fd, 128).split()[0]) * resource.getpagesize()
    finally:
        os.close(fd)


def apply(limits: ResourceLimits, address_space: int) -> None:
    """Set every limit for good; the file-size limit 0 forbids writing to any file.

    `address_space`: what the process had mapped before (current_address_space(),
    read before Landlock hides /proc).
    """
    if limits.cpu_seconds is not None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    _set(resource.RLIMIT_FSIZE, 0)
    _set(resource.RLIMIT_CORE, 0)
    if limits.max_processes is not None:
        _set(resource.RLIMIT_NPROC, limits.max_processes)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    files = limits.max_open_files
    _set(resource.RLIMIT_NOFILE, files if hard == resource.RLIM_INFINITY else min(files, hard))
    _set(resource.RLIMIT_AS, address_space + limits.memory_bytes)
