"""What a node could leave behind on this machine, read before and after, so that a
test can say the teardown left nothing. Only what a node of ours makes is read
(other work on the machine comes and goes meanwhile): network namespaces, host
links, KUBE-* iptables chains, the sysctls kubelet sets, qop-node cgroups,
processes and mounts under the node's paths, and the paths kubelet and containerd
write outside their state.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from qiskit_operator.local.node.footprint import CGROUP_ROOT, KUBELET_SYSCTLS, OUTSIDE_PATHS

WATCHED_MOUNTS = ("/run/netns", "/var/lib/kubelet", "/run/containerd", "/tmp/qop-node-")


def _lines(*argv: str) -> list[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.splitlines()


def _node_processes() -> set[str]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "qop-node-" in argv or "containerd-shim" in argv:
                found.add(argv.strip())
    return found


@dataclass(frozen=True)
class MachineState:
    netns: frozenset[str]
    links: frozenset[str]
    kube_chains: int
    sysctls: tuple[str, ...]
    cgroups: frozenset[str]
    processes: frozenset[str]
    mounts: frozenset[str]
    outside: frozenset[str]

    @classmethod
    def read(cls) -> MachineState:
        mounts = {
            line.split()[4]
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4].startswith(WATCHED_MOUNTS)
        }
        cgroups = {
            f"{controller}/{name}"
            for controller in os.listdir(CGROUP_ROOT)
            if (CGROUP_ROOT / controller).is_dir()
            for name in os.listdir(CGROUP_ROOT / controller)
            if name.startswith("qop-node-")
        }
        outside = {
            str(path / entry) if path.is_dir() else str(path)
            for path in OUTSIDE_PATHS
            if path.exists()
            for entry in (os.listdir(path) if path.is_dir() else [""])
        }
        return cls(
            netns=frozenset(_lines("ip", "netns", "list")),
            links=frozenset(line.split()[0] for line in _lines("ip", "-br", "link") if line),
            kube_chains=sum(1 for line in _lines("iptables-save") if "KUBE-" in line),
            sysctls=tuple((Path("/proc/sys") / key).read_text().strip() for key in KUBELET_SYSCTLS),
            cgroups=frozenset(cgroups),
            processes=frozenset(_node_processes()),
            mounts=frozenset(mounts),
            outside=frozenset(outside),
        )

    def left_behind(self, before: MachineState) -> dict[str, object]:
        """What is here now and was not before (empty: nothing left behind)."""
        changes: dict[str, object] = {}
        for name in ("netns", "links", "cgroups", "processes", "mounts", "outside"):
            added = getattr(self, name) - getattr(before, name)
            if added:
                changes[name] = sorted(added)
        if self.kube_chains != before.kube_chains:
            changes["iptables KUBE- lines"] = (before.kube_chains, self.kube_chains)
        if self.sysctls != before.sysctls:
            changes["sysctls"] = (before.sysctls, self.sysctls)
        return changes
