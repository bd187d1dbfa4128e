"""The Python guard: clear messages for what a sandbox child may not do.

Installed in each forked child just before the program runs, never in a
server, on top of the kernel's confinement (`confinement`: seccomp, Landlock,
resource limits), which is what holds: this guard runs in the program's own
interpreter, and a program can reach it (and empty its tables) through objects
the import allow-list permits, or call C-level primitives that raise no audit
event (`_posixsubprocess.fork_exec`). What it adds is an answer that says what
to change: the import allow-list in `program`, and this audit hook, which
names what the program tried however it reached a module. Thread start has no
audit event in Python 3.11, so the two functions that start threads are
replaced. QOP_SANDBOX_PYTHON_GUARD=off leaves it out, so that tests prove the
kernel's layers hold alone (tests/integration/test_sandbox_escapes.py).
"""

from __future__ import annotations

import _thread
import io
import os
import site
import sys
import sysconfig
import threading
from collections.abc import Sequence
from typing import Any

# Audit events refused outright, by prefix. See the CPython audit events table.
_REFUSED_PREFIXES = (
    "socket.",
    "subprocess.",
    "os.exec",
    "os.spawn",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "os.system",
    "os.kill",
    "os.killpg",
    "os.remove",
    "os.unlink",
    "os.rmdir",
    "os.rename",
    "os.mkdir",
    "os.chmod",
    "os.chown",
    "os.chflags",
    "os.truncate",
    "os.link",
    "os.symlink",
    "os.utime",
    "os.chdir",
    "os.chroot",
    "os.putenv",
    "os.unsetenv",
    "os.listdir",
    "os.scandir",
    "os.walk",
    "os.fwalk",
    "os.setxattr",
    "os.removexattr",
    "os.add_dll_directory",
    "os.startfile",
    "os.truncate",
    "ctypes.",
    "shutil.",
    "resource.setrlimit",
    "resource.prlimit",
    "sys.addaudithook",
    "pickle.find_class",
    "marshal.",
    "code.__new__",
    "glob.",
    "fcntl.",
    "mmap.",
    "sqlite3.",
    "webbrowser.",
    "urllib.",
    "http.",
    "ftplib.",
    "smtplib.",
    "poplib.",
    "imaplib.",
    "nntplib.",
    "telnetlib.",
    "signal.",
    "pty.",
    "sys.remote_exec",
    "_posixsubprocess",
    "os.posix_fadvise",
    "syslog.",
    "msvcrt.",
    "winreg.",
    "cpython.run_",
)
_REFUSED_IMPORTS = frozenset(
    {
        "subprocess",
        "socket",
        "_socket",
        "ctypes",
        "_ctypes",
        "multiprocessing",
        "pty",
        "shutil",
        "tempfile",
        "pickle",
        "_pickle",
        "marshal",
        "signal",
        "select",
        "selectors",
        "asyncio",
        "mmap",
        "fcntl",
        "resource",
        "urllib",
        "http",
        "ftplib",
        "smtplib",
        "requests",
        "ssl",
        "_ssl",
        "importlib",
        "runpy",
        "code",
        "codeop",
        "pdb",
        "webbrowser",
    }
)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class SandboxViolationError(PermissionError):
    """The program tried something circuits may not do."""


class BoundedOutput(io.TextIOBase):
    """stdout and stderr of a program: thrown away, but no more than `limit` characters."""

    def __init__(self, limit: int) -> None:
        self._left = limit
        self._limit = limit

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._left -= len(text)
        if self._left < 0:
            raise SandboxViolationError(f"the program printed more than {self._limit} characters")
        return len(text)


def _readable_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()}
    roots.update(p for p in sysconfig.get_paths().values() if p)
    user_site = site.getusersitepackages()
    if user_site:
        roots.add(user_site)
    return tuple(sorted(os.path.realpath(root) + os.sep for root in roots))


def _refuse_thread(*_: Any, **__: Any) -> Any:
    raise SandboxViolationError("circuits may not start threads")


class _Hook:
    def __init__(self, readable_roots: Sequence[str]) -> None:
        self._roots = tuple(readable_roots)

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            self._check_open(args)
        elif event == "import":
            top = str(args[0]).split(".", 1)[0]
            if top in _REFUSED_IMPORTS:
                raise SandboxViolationError(f"circuits may not import {args[0]}")
        elif event == "compile":
            if isinstance(args[0], str | bytes):
                raise SandboxViolationError("circuits may not compile or evaluate strings as code")
        elif event.startswith(_REFUSED_PREFIXES):
            raise SandboxViolationError(f"circuits may not do {event}")

    def _check_open(self, args: tuple[Any, ...]) -> None:
        path, mode, flags = args[0], args[1], args[2]
        if isinstance(path, int):
            raise SandboxViolationError("circuits may not open file descriptors")
        writing = (mode is not None and any(c in str(mode) for c in "wax+")) or bool(
            (flags or 0) & _WRITE_FLAGS
        )
        if writing:
            raise SandboxViolationError(f"circuits may not write files ({path!s})")
        real = os.path.realpath(os.fsdecode(path))
        if not real.startswith(self._roots):
            raise SandboxViolationError(f"circuits may not read {path!s}")


class Guard:
    """The guard, prepared once in the zygote: each child only installs it.

    Finding the readable roots asks sysconfig and site, about a millisecond that every
    child would otherwise spend again (benchmarks/sandbox.py)."""

    def __init__(self, output_limit: int) -> None:
        self.output_limit = output_limit
        self.roots = _readable_roots()

    def install(self) -> None:
        """Lock this process down; there is no way back."""
        _thread.start_new_thread = _refuse_thread
        _thread.start_new = _refuse_thread
        threading._start_new_thread = _refuse_thread  # type: ignore[attr-defined]
        sys.stdin = io.StringIO("")
        sys.stdout = sys.stderr = BoundedOutput(self.output_limit)
        sys.addaudithook(_Hook(self.roots))


def install(output_limit: int) -> None:
    """Lock this process down; there is no way back."""
    Guard(output_limit).install()
