"""The kernel's confinement of a process that runs untrusted code, and what is in force.

Three layers, each one module: `seccomp` (no processes, exec or sockets),
`landlock` (read-only, beneath the directories Python loaded from), `rlimits`
(CPU, memory, processes, files). A `Confinement` is prepared where it is cheap to
prepare, once (validate's zygote, execute's worker before its imports), and
applied in the process that will run the program, for good: `apply()` sets
no_new_privs first, then Landlock, the limits, and seccomp last (it would refuse
nothing the other two need, but last is the order that never has to think).

`Isolation` is what the kernel offers; the functions report it on /health and
/ready, warn at start-up about a missing layer, and refuse to start without one
when QOP_REQUIRE_ISOLATION is set (`check`).
"""

from __future__ import annotations

import logging
import os
import site
import sys
import sysconfig
from collections.abc import Iterable

import msgspec

from qiskit_operator.sandbox import landlock, rlimits, seccomp

log = logging.getLogger(__name__)

# System library directories: the dynamic loader may still load from them (numpy and
# Qiskit load some extensions lazily). Read-only, and nothing secret lives there.
_LIBRARY_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
# Single files a program's libraries read: the loader's cache, entropy, the CPU
# count OpenMP and OpenBLAS size their pools by.
_READABLE_FILES = ("/etc/ld.so.cache", "/dev/zero", "/dev/urandom")
_READABLE_SYSTEM = ("/sys/devices/system/cpu",)


class Isolation(msgspec.Struct, frozen=True, kw_only=True):
    """The layers in force (or on offer): what /health and /ready report."""

    landlock_abi: int
    seccomp: bool
    rlimits: bool

    @property
    def missing(self) -> list[str]:
        gaps = []
        if self.landlock_abi <= 0:
            gaps.append("Landlock (the kernel lacks it or it is switched off: lsm=landlock)")
        if not self.seccomp:
            gaps.append("seccomp (the kernel lacks filters, or libseccomp.so.2 is missing)")
        if not self.rlimits:
            gaps.append("resource limits")
        return gaps


class IsolationUnavailableError(RuntimeError):
    """QOP_REQUIRE_ISOLATION is set and a layer is missing: the service must not start."""


def available() -> Isolation:
    """What this kernel and this image offer a sandboxed process."""
    return Isolation(
        landlock_abi=landlock.abi_version(),
        seccomp=seccomp.kernel_supports_filters() and seccomp.compile_filter() is not None,
        rlimits=True,
    )


def check(service: str, *, required: bool) -> Isolation:
    """Log each missing layer as a WARNING; raise when `required` and one is missing."""
    offered = available()
    for gap in offered.missing:
        log.warning("%s: untrusted code will run without %s", service, gap)
    if required and offered.missing:
        raise IsolationUnavailableError(
            f"{service} will not start: QOP_REQUIRE_ISOLATION is set and this node lacks "
            + "; ".join(offered.missing)
            + ". Run on a kernel with Landlock and seccomp, or unset QOP_REQUIRE_ISOLATION"
        )
    return offered


def readable_roots(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The directories Python, the packages it loaded and their libraries live in."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots.update(site.getsitepackages())
    roots.update(p for p in sysconfig.get_paths().values() if p)
    for name, module in list(sys.modules.items()):
        if "." not in name:  # each top-level package's own directory, e.g. an editable install
            roots.update(getattr(module, "__path__", None) or ())
    roots.update(_mapped_library_dirs())
    roots.update(_LIBRARY_DIRS)
    roots.update(_READABLE_FILES)
    roots.update(_READABLE_SYSTEM)
    roots.update(extra)
    real = {os.path.realpath(root) for root in roots if isinstance(root, str) and root}
    # Never the whole file system: `python -m` from / puts / on sys.path.
    return tuple(sorted(root for root in real if root != "/" and os.path.exists(root)))


def _mapped_library_dirs() -> set[str]:
    dirs = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split(maxsplit=5)[-1].strip()
                if path.startswith("/") and ".so" in path:
                    dirs.add(os.path.dirname(path))
    except OSError:
        pass
    return dirs


class Confinement:
    """Prepared once in a parent; `apply()` in the process that runs untrusted code."""

    def __init__(
        self, limits: rlimits.ResourceLimits, *, required: bool, readable: Iterable[str] = ()
    ) -> None:
        self.limits = limits
        self.required = required
        abi = self._abi = landlock.abi_version()
        self.ruleset = landlock.ruleset_for(abi, readable_roots(readable)) if abi > 0 else None
        # Built here, once: a child only enforces it (one system call).
        self._ruleset_fd = landlock.build(self.ruleset) if self.ruleset is not None else None
        compiled = seccomp.compile_filter() if seccomp.kernel_supports_filters() else None
        self.filter = seccomp.LoadableFilter(compiled) if compiled is not None else None

    @property
    def offered(self) -> Isolation:
        return Isolation(
            landlock_abi=self._abi if self.ruleset is not None else 0,
            seccomp=self.filter is not None,
            rlimits=True,
        )

    def apply(self, *, all_threads: bool = False) -> Isolation:
        """Confine this process for good; raises when `required` and a layer is missing.

        `all_threads`: threads that already run get the seccomp filter too (Landlock
        confines only the calling thread and what it starts: apply before threads).
        """
        offered = self.offered
        if self.required and offered.missing:
            raise IsolationUnavailableError("; ".join(offered.missing))
        address_space = rlimits.current_address_space()
        seccomp.set_no_new_privs()
        if self._ruleset_fd is not None:
            landlock.enforce(self._ruleset_fd)
            # The program need not see it (it could only confine itself further).
            os.close(self._ruleset_fd)
            self._ruleset_fd = None
        rlimits.apply(self.limits, address_space)
        if self.filter is not None:
            self.filter.load(all_threads=all_threads)
        return offered
