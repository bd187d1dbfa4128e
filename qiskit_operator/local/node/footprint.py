"""What a node changes outside its own state directory, and putting it back.

kubelet sets three global sysctls, makes its root directory a mount, and writes a
few paths it is not told to keep elsewhere; containerd's shims and CNI leave
sockets and network namespaces under /run. `Footprint.record` notes what existed
before the node started; `Footprint.restore` removes what the node added and resets
the sysctls. Used by local/node/node.py, after every daemon has stopped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# kubelet sets these to its "kernel defaults" unless protectKernelDefaults.
KUBELET_SYSCTLS = ("kernel/panic", "kernel/panic_on_oops", "vm/overcommit_memory")
# Written by kubelet, containerd or CNI whatever their settings.
OUTSIDE_PATHS = (
    Path("/var/lib/kubelet"),
    Path("/var/log/containers"),
    Path("/var/log/pods"),
    Path("/run/containerd/s"),
    Path("/run/containerd/runc"),
    Path("/run/containerd"),
)
CGROUP_ROOT = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/run/netns")


def _entries(directory: Path) -> set[str]:
    return set(os.listdir(directory)) if directory.is_dir() else set()


def mounts_under(prefix: Path) -> list[Path]:
    """Mount points at or below `prefix`, deepest first."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = Path(line.split()[4].replace("\\040", " "))
        if point == prefix or prefix in point.parents:
            points.append(point)
    return sorted(points, key=lambda p: len(p.parts), reverse=True)


def unmount_under(prefix: Path) -> None:
    for point in mounts_under(prefix):
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


def cgroup_dirs(name: str, unified: bool = False) -> list[Path]:
    """The node's cgroup root in every mounted v1 hierarchy (and, with `unified`, in
    the v2 one beside them, where kubelet makes it too)."""
    return [
        CGROUP_ROOT / controller / name
        for controller in sorted(os.listdir(CGROUP_ROOT))
        if (unified or controller != "unified") and (CGROUP_ROOT / controller).is_dir()
    ]


@dataclass
class Footprint:
    sysctls: dict[str, str] = field(default_factory=dict)
    existed: dict[Path, set[str] | None] = field(default_factory=dict)
    netns_before: set[str] = field(default_factory=set)
    netns_dir_mounted: bool = False
    netns_dir_existed: bool = False

    @classmethod
    def record(cls) -> Footprint:
        footprint = cls()
        for key in KUBELET_SYSCTLS:
            footprint.sysctls[key] = (Path("/proc/sys") / key).read_text().strip()
        for path in OUTSIDE_PATHS:
            footprint.existed[path] = _entries(path) if path.exists() else None
        footprint.netns_before = _entries(NETNS_DIR)
        footprint.netns_dir_existed = NETNS_DIR.exists()
        footprint.netns_dir_mounted = NETNS_DIR in mounts_under(NETNS_DIR)
        return footprint

    def restore(self, cgroup_name: str) -> list[str]:
        """Put things back; what could not be, as messages (empty when clean)."""
        problems = []
        for key, value in self.sysctls.items():
            path = Path("/proc/sys") / key
            if path.read_text().strip() != value:
                path.write_text(value)
        for netns in _entries(NETNS_DIR) - self.netns_before:
            if netns.startswith("cni-"):
                unmount_under(NETNS_DIR / netns)
                (NETNS_DIR / netns).unlink(missing_ok=True)
        # `ip netns add` makes /run/netns a shared mount the first time and keeps it.
        if not self.netns_dir_mounted and not _entries(NETNS_DIR):
            unmount_under(NETNS_DIR)
            if not self.netns_dir_existed:
                NETNS_DIR.rmdir()
        # Deepest first, so that a directory we made is empty by the time it is reached.
        for path, before in sorted(self.existed.items(), key=lambda i: -len(i[0].parts)):
            if not path.exists():
                continue
            for entry in _entries(path) - (before or set()):
                target = path / entry
                if _in_use(target):
                    continue  # another containerd's, made while the node ran
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target, ignore_errors=True)
                else:
                    target.unlink(missing_ok=True)
            if before is None and not _entries(path):
                path.rmdir()
        for directory in cgroup_dirs(cgroup_name, unified=True):
            problems.extend(_remove_cgroup(directory))
        return problems


def _in_use(target: Path) -> bool:
    """A socket some process still answers on (a shim of another containerd on the
    machine), or a directory holding one: not ours to remove."""
    if target.is_dir() and not target.is_symlink():
        return any(_in_use(child) for child in target.iterdir())
    if not target.is_socket():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(str(target))
        except OSError:
            return False
    return True


def _remove_cgroup(directory: Path) -> list[str]:
    """cgroup directories go depth-first, with rmdir (their files cannot be removed)."""
    if not directory.is_dir():
        return []
    problems = []
    for child in directory.iterdir():
        if child.is_dir():
            problems.extend(_remove_cgroup(child))
    try:
        directory.rmdir()
    except OSError as error:
        problems.append(f"cgroup {directory}: {error}")
    return problems
