"""The kernel confinement's pure parts: what the seccomp filter refuses, what the
Landlock ruleset grants on each ABI, which directories are readable, and how a
missing layer is reported."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

import pytest

from qiskit_operator import wiring
from qiskit_operator.sandbox import confinement, hugepages, landlock, seccomp
from qiskit_operator.sandbox.pool import SandboxPool
from qiskit_operator.settings import Settings

WRITE_RIGHTS = (
    (1 << 1) | (1 << 4) | (1 << 5) | (1 << 7) | (1 << 8) | (1 << 12)
)  # write, remove, make


def test_the_filter_refuses_every_way_to_start_a_process_or_reach_outside() -> None:
    required = {
        "execve", "execveat", "fork", "vfork", "ptrace", "socket", "connect", "bind",
        "listen", "accept", "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
        "bpf", "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd",
        "process_vm_readv", "process_vm_writev", "perf_event_open", "kexec_load",
        "kexec_file_load", "init_module", "finit_module", "keyctl", "add_key",
        "request_key", "personality",
    }  # fmt: skip
    assert required <= set(seccomp.DENIED)
    # clone3 hides its flags from a filter: ENOSYS sends glibc back to clone, which
    # the filter allows only with CLONE_THREAD.
    assert seccomp.ENOSYS_CALLS == ("clone3",)
    assert "clone" not in seccomp.DENIED


@pytest.mark.skipif(seccomp.compile_filter() is None, reason="no libseccomp.so.2 here")
def test_the_filter_compiles_once_to_bpf_with_a_rule_for_each_refused_call() -> None:
    compiled = seccomp.compile_filter()
    assert compiled is not None
    assert len(compiled.bpf) % 8 == 0
    # An architecture check, a rule per call (most of them) and the clone argument test.
    assert compiled.instructions > len(seccomp.DENIED)


def test_the_ruleset_handles_every_right_the_abi_knows_and_grants_only_reading() -> None:
    newest = landlock.ruleset_for(7, ["/usr/lib", "/usr/lib"])
    assert newest.handled_fs & WRITE_RIGHTS == WRITE_RIGHTS
    assert newest.handled_fs & (1 << 14) and newest.handled_fs & (1 << 15)  # truncate, ioctl
    assert newest.handled_net == 0b11  # TCP bind and connect, with no port granted
    assert newest.scoped == landlock.SCOPE_SIGNAL | landlock.SCOPE_ABSTRACT_UNIX_SOCKET
    assert newest.readable == ("/usr/lib",)


@pytest.mark.parametrize(
    ("abi", "net", "scoped", "size"), [(1, 0, 0, 8), (3, 0, 0, 8), (4, 3, 0, 16), (6, 3, 3, 24)]
)
def test_an_older_kernel_is_told_only_what_its_abi_knows(
    abi: int, net: int, scoped: int, size: int
) -> None:
    ruleset = landlock.ruleset_for(abi, [])
    assert (ruleset.handled_net, ruleset.scoped, ruleset.attr_size) == (net, scoped, size)
    assert ruleset.handled_fs < (1 << 13) or abi >= 2  # refer only from ABI 2


def test_the_readable_directories_are_pythons_and_never_the_whole_disk_or_tmp() -> None:
    roots = confinement.readable_roots()
    assert os.path.realpath(sys.prefix) in roots
    assert os.path.dirname(os.path.realpath(confinement.__file__)).rsplit("/", 1)[0] in roots
    assert "/" not in roots
    # Under the temporary directory only Python's own prefix and a loaded package's own
    # folder (a checkout and its venv there, as CI's clone may be), never the directory
    # itself nor anything else in it.
    tmp = os.path.realpath(tempfile.gettempdir())
    packages = {
        os.path.realpath(folder)
        for name, module in list(sys.modules.items())
        if "." not in name
        for folder in getattr(module, "__path__", None) or ()
    }
    assert tmp not in roots
    prefix = os.path.realpath(sys.prefix)
    assert not any(
        root.startswith(tmp + os.sep)
        for root in roots
        if root not in packages and not (root + os.sep).startswith(prefix + os.sep)
    )
    assert not any(
        root.startswith(("/etc/", "/home", "/root/.ssh", "/proc"))
        for root in roots
        if root != "/etc/ld.so.cache"
    )


def test_a_missing_layer_is_a_warning_unless_isolation_is_required(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bare = confinement.Isolation(landlock_abi=0, seccomp=False, rlimits=True)
    monkeypatch.setattr(confinement, "available", lambda: bare)
    with caplog.at_level(logging.WARNING):
        assert confinement.check("validate", required=False) == bare
    assert any("without Landlock" in r.getMessage() for r in caplog.records)
    assert any("without seccomp" in r.getMessage() for r in caplog.records)
    with pytest.raises(confinement.IsolationUnavailableError, match="QOP_REQUIRE_ISOLATION"):
        confinement.check("validate", required=True)


def test_the_python_guard_is_on_unless_a_test_switches_it_off() -> None:
    assert Settings.from_env({}).sandbox.python_guard is True
    assert Settings.from_env({"QOP_SANDBOX_PYTHON_GUARD": "off"}).sandbox.python_guard is False
    assert Settings.from_env({"QOP_REQUIRE_ISOLATION": "true"}).sandbox.require_isolation
    assert Settings.from_env({"QOP_SANDBOX_MAX_QPY_MB": "2"}).sandbox.max_qpy_bytes == 2 << 20


def test_validate_and_execute_refuse_to_start_without_isolation_when_it_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bare = confinement.Isolation(landlock_abi=0, seccomp=True, rlimits=True)
    monkeypatch.setattr(confinement, "available", lambda: bare)
    settings = Settings.from_env({"QOP_REQUIRE_ISOLATION": "true"})
    with pytest.raises(confinement.IsolationUnavailableError, match="validate will not start"):
        wiring.validator(settings)
    with pytest.raises(confinement.IsolationUnavailableError, match="execute will not start"):
        wiring.executor(settings)


def test_only_the_private_anonymous_heap_is_collapsed_into_huge_pages() -> None:
    maps = "\n".join(
        [
            "00400000-00600000 r-xp 00000000 08:01 1 /usr/bin/python3.11",
            "01000000-01a00000 rw-p 00000000 00:00 0 [heap]",
            "7f0000100000-7f0000900000 rw-p 00000000 00:00 0 ",
            "7f0001000000-7f0001400000 rw-s 00000000 00:01 2 /dev/shm/x",
            "7f0002000000-7f0002400000 rw-p 00000000 08:01 3 /usr/lib/libfoo.so",
            "7f0003000000-7f0003100000 rw-p 00000000 00:00 0 ",
            "7ffd00000000-7ffd00400000 rw-p 00000000 00:00 0 [stack]",
        ]
    )
    huge = 2 << 20
    assert hugepages._heap_ranges(maps) == [
        (0x01000000, 0x01000000 + 5 * huge),  # [heap], cut to whole 2 MiB pages
        (0x7F0000200000, 0x7F0000200000 + 3 * huge),  # anonymous, aligned inward
    ]


def test_collapsing_the_heap_leaves_this_process_working() -> None:
    before = {name: len(name) for name in ("a", "bb", "ccc")}
    collapsed = hugepages.collapse_heap()
    assert collapsed >= 0 and collapsed % (2 << 20) == 0
    assert before == {"a": 1, "bb": 2, "ccc": 3}


def test_a_waiting_child_is_the_first_the_kernel_kills_when_memory_runs_out(
    sandbox: SandboxPool,
) -> None:
    assert sandbox.wait_warm(60)
    child = sandbox._ready[0].pid
    zygote = sandbox._zygote.pid
    assert Path(f"/proc/{child}/oom_score_adj").read_text().strip() == "1000"
    assert (
        Path(f"/proc/{zygote}/oom_score_adj").read_text().strip()
        == Path("/proc/self/oom_score_adj").read_text().strip()
    )
