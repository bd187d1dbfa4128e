"""The seccomp filter of a sandboxed process: no new processes, no exec, no sockets.

`compile_filter()` runs once, in validate's zygote or in execute's worker before
anything untrusted runs; `load()` installs the compiled BPF, under no_new_privs,
in a child after its fork (loading costs a few microseconds; compiling with
libseccomp costs about a millisecond, so it is not done per child). The filter
allows everything but the system calls below, which fail with EPERM: a program
sees "Operation not permitted", never a crash of its own process.

libseccomp is used through pyseccomp, a ctypes binding to the system's
libseccomp.so.2 (the images install libseccomp2): it resolves system call
numbers per architecture and writes the architecture checks, which is where
hand-written filters go wrong (i386 and x32 entry points on x86_64).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# What a sandboxed process may never do. Grouped by why.
DENIED = (
    # Starting programs and processes. clone is allowed with CLONE_THREAD only
    # (threads of Aer, OpenMP and OpenBLAS), below.
    "execve",
    "execveat",
    "fork",
    "vfork",
    # Reaching other processes or the kernel's debugging interfaces.
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "pidfd_open",
    "pidfd_getfd",
    "pidfd_send_signal",
    "kcmp",
    "perf_event_open",
    "bpf",
    "userfaultfd",
    # The network, and new sockets of any family (an inherited socket still works).
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    # System V IPC and message queues: outside the file system, where Landlock does
    # not look, and their ids are guessable (so no operation on an existing one either).
    "shmget",
    "shmat",
    "shmctl",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "mq_open",
    "mq_timedsend",
    # Leaving the process group the pool kills whole.
    "setsid",
    "setpgid",
    # Mounts, namespaces, roots.
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "name_to_handle_at",
    "open_by_handle_at",
    # Asynchronous I/O that bypasses seccomp's view of each operation.
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    # The machine itself.
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "syslog",
    "acct",
    "quotactl",
    "quotactl_fd",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "vhangup",
    "uselib",
    "lookup_dcookie",
    "fanotify_init",
    "migrate_pages",
    "move_pages",
    "modify_ldt",
    # Kernel keyrings (credentials of the service account's processes).
    "keyctl",
    "add_key",
    "request_key",
    # Execution-domain tricks (READ_IMPLIES_EXEC and the like).
    "personality",
)
"""Refused with EPERM, on every architecture that has them."""

ENOSYS_CALLS = ("clone3",)
"""Refused with ENOSYS: glibc then falls back to clone, which the filter can inspect
(clone3 passes its flags in memory, where a filter cannot look)."""

_CLONE_THREAD = 0x00010000
# Namespaces a clone could create, even together with CLONE_THREAD.
_CLONE_NAMESPACES = (
    0x00000080,  # CLONE_NEWTIME
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """A filter as the kernel loads it: BPF instructions, 8 bytes each."""

    bpf: bytes

    @property
    def instructions(self) -> int:
        return len(self.bpf) // 8


def compile_filter(denied: Iterable[str] = DENIED) -> CompiledFilter | None:
    """The filter for this machine's architecture; None where libseccomp is missing."""
    try:
        import pyseccomp
    except (OSError, AttributeError, ImportError):  # no libseccomp.so.2 on this machine
        return None
    rules: Any = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    # A binary tree of syscall numbers rather than a list: the kernel runs the filter
    # for every syscall number when a child loads it (to cache the calls it always
    # allows), so a child's load takes 0.2 ms instead of 0.3 (libseccomp 2.5+).
    with contextlib.suppress(Exception):  # an older libseccomp: the list, as before
        rules.set_attr(pyseccomp.Attr.CTL_OPTIMIZE, 2)
    for name in denied:
        _deny(rules, pyseccomp, name, errno.EPERM)
    for name in ENOSYS_CALLS:
        _deny(rules, pyseccomp, name, errno.ENOSYS)
    # clone without CLONE_THREAD starts a process. Its flags are argument 0 on x86_64
    # and arm64 alike (libseccomp knows the other orders).
    refuse = pyseccomp.ERRNO(errno.EPERM)
    rules.add_rule(refuse, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, _CLONE_THREAD, 0))
    for flag in _CLONE_NAMESPACES:
        rules.add_rule(refuse, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    read, write = os.pipe()
    try:
        rules.export_bpf(_FileNumber(write))
        os.close(write)
        write = -1
        chunks = []
        while chunk := os.read(read, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)
    return CompiledFilter(b"".join(chunks))


def _deny(rules: Any, pyseccomp: Any, name: str, code: int) -> None:
    number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    if number == _NR_SCMP_ERROR:
        return  # this libseccomp does not know the call: nor does a kernel it was built for
    rules.add_rule(pyseccomp.ERRNO(code), number)


_NR_SCMP_ERROR = -1


class _FileNumber:
    """What pyseccomp's export_bpf wants: something with fileno()."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


_PR_SET_NO_NEW_PRIVS = 38
_PR_GET_SECCOMP = 21
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_TSYNC = 1
# seccomp(2)'s number differs by architecture (the images are built for these two).
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
_libc = ctypes.CDLL(None, use_errno=True)


def set_no_new_privs() -> None:
    """No exec can ever give this process more privileges (setuid, file capabilities)."""
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


class LoadableFilter:
    """A compiled filter laid out in memory as seccomp(2) takes it, ahead of a fork.

    Built in the parent so a child's load is one system call and no allocation.
    """

    def __init__(self, compiled: CompiledFilter) -> None:
        self.compiled = compiled
        self._program = ctypes.create_string_buffer(compiled.bpf, len(compiled.bpf))
        self._fprog = _SockFprog(compiled.instructions, ctypes.addressof(self._program))
        machine = os.uname().machine
        number = _SYS_SECCOMP.get(machine)
        if number is None:
            raise OSError(errno.ENOSYS, f"seccomp(2) number unknown on {machine}")
        self._number = ctypes.c_long(number)

    def load(self, *, all_threads: bool = False) -> None:
        """Install the filter for good; `all_threads` also confines threads that already run.

        Needs no_new_privs (set_no_new_privs) or CAP_SYS_ADMIN.
        """
        flags = _SECCOMP_FILTER_FLAG_TSYNC if all_threads else 0
        result = _libc.syscall(
            self._number, _SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(self._fprog)
        )
        if result != 0:
            raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER) failed")


def kernel_supports_filters() -> bool:
    """Whether this kernel has seccomp filters (and no one forbade asking)."""
    return _libc.prctl(_PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 and os.path.exists(
        "/proc/sys/kernel/seccomp/actions_avail"
    )
