"""Landlock: a sandboxed process reads only what Python needs and writes nothing.

Built by `confinement` in the zygote (validate) or the worker (execute); applied
in the process that will run untrusted code. The ruleset handles every file
system right this kernel's Landlock knows and grants back only reading, beneath
the interpreter's and the packages' directories; on ABI 4 and later it also
handles TCP bind and connect (granting no port), and on ABI 6 and later it
scopes signals and abstract UNIX sockets to the sandbox's own domain, so a
child cannot signal its parent or reach a server's abstract socket.

Called through its three system calls with ctypes: the PyPI binding (landlock)
is a development release, and the interface is three calls and two structures
that the kernel keeps stable. The numbers are the same on x86_64 and arm64
(the calls were added after the tables were unified).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from dataclasses import dataclass

_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1

# File system rights, by the ABI that introduced them.
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
TRUNCATE = 1 << 14
_FS_RIGHTS_BY_ABI = {
    1: (1 << 13) - 1,  # execute .. make_sym
    2: 1 << 13,  # refer (rename and link across directories)
    3: 1 << 14,  # truncate
    5: 1 << 15,  # ioctl on devices
}
_NET_BIND_TCP = 1 << 0
_NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

_libc = ctypes.CDLL(None, use_errno=True)


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is packed: 12 bytes
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def abi_version() -> int:
    """This kernel's Landlock ABI; 0 when Landlock is absent or switched off."""
    version = _libc.syscall(
        ctypes.c_long(_SYS_CREATE_RULESET), None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION
    )
    return max(int(version), 0)


@dataclass(frozen=True, slots=True)
class Ruleset:
    """What the kernel is told: rights it handles, and the readable directories."""

    handled_fs: int
    handled_net: int
    scoped: int
    readable: tuple[str, ...]
    sinks: tuple[str, ...] = ("/dev/null",)
    """Files that may also be opened for writing: only where writes go nowhere (dill
    opens /dev/null read-write when Qiskit imports it)."""

    @property
    def attr_size(self) -> int:
        """Older kernels reject fields they do not know: pass only theirs."""
        if self.scoped:
            return ctypes.sizeof(_RulesetAttr)
        if self.handled_net:
            return _RulesetAttr.scoped.offset
        return _RulesetAttr.handled_access_net.offset


def ruleset_for(abi: int, readable: Iterable[str]) -> Ruleset:
    """The ruleset of a sandbox on a kernel with Landlock `abi` (pure: no system calls)."""
    handled_fs = 0
    for introduced, rights in _FS_RIGHTS_BY_ABI.items():
        if abi >= introduced:
            handled_fs |= rights
    return Ruleset(
        handled_fs=handled_fs,
        handled_net=_NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0,
        scoped=SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0,
        readable=tuple(sorted(set(readable))),
    )


def build(ruleset: Ruleset) -> int:
    """The ruleset as a kernel object (a file descriptor), built once in a parent.

    Children inherit the descriptor, so each one enforces it with one system call
    (`enforce`) instead of opening every readable directory again. A readable
    path that does not exist is skipped.
    """
    attr = _RulesetAttr(ruleset.handled_fs, ruleset.handled_net, ruleset.scoped)
    fd = _libc.syscall(
        ctypes.c_long(_SYS_CREATE_RULESET),
        ctypes.byref(attr),
        ctypes.c_size_t(ruleset.attr_size),
        0,
    )
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for path in ruleset.readable:
            _allow(fd, path, READ_FILE | READ_DIR if os.path.isdir(path) else READ_FILE)
        sink_rights = (READ_FILE | WRITE_FILE | TRUNCATE) & ruleset.handled_fs
        for path in ruleset.sinks:
            _allow(fd, path, sink_rights)
    except BaseException:
        os.close(fd)
        raise
    return int(fd)


def enforce(ruleset_fd: int) -> None:
    """Confine the calling thread (and every thread or process it starts later) for good.

    Needs no_new_privs or CAP_SYS_ADMIN.
    """
    if _libc.syscall(ctypes.c_long(_SYS_RESTRICT_SELF), ruleset_fd, 0) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")


def _allow(ruleset_fd: int, path: str, rights: int) -> None:
    """Grant `rights` beneath `path` (a file takes only file rights, never READ_DIR)."""
    try:
        parent = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        rule = _PathBeneathAttr(rights, parent)
        if _libc.syscall(ctypes.c_long(_SYS_ADD_RULE), ruleset_fd, _RULE_PATH_BENEATH,
                         ctypes.byref(rule), 0) != 0:  # fmt: skip
            error = ctypes.get_errno()
            raise OSError(error, f"landlock_add_rule({path}) failed: {os.strerror(error)}")
    finally:
        os.close(parent)
