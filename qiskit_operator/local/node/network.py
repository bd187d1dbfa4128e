"""The node's network namespace: every address the node's cluster uses lives in it.

A bridge with no ports holds the node's address (this kernel has no `dummy` link
type) and carries the namespace's default route, so that traffic from the node's
host processes to a ClusterIP is routed, then DNATed by kube-proxy, and nothing has
a way out: the namespace has no link to the host's. Forwarding and the bridge's
netfilter hook are set inside the namespace only. Used by local/node/node.py.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

NODE_ADDRESS = "10.200.0.1"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
DNS_ADDRESS = "10.96.0.10"  # the kube-dns Service's ClusterIP, fixed in its manifest
NETNS_DIR = Path("/run/netns")


def _run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")


@dataclass(frozen=True, slots=True)
class NodeNetwork:
    """A network namespace named `name`, made by `create`, gone after `delete`."""

    name: str
    bridge: str = "qop-node0"

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    def exists(self) -> bool:
        return self.path.exists()

    def inside(self, *argv: str) -> list[str]:
        return ["nsenter", f"--net={self.path}", "--", *argv]

    def create(self) -> None:
        _run("ip", "netns", "add", self.name)
        _run(*self.inside("ip", "link", "set", "lo", "up"))
        _run(*self.inside("ip", "link", "add", self.bridge, "type", "bridge"))
        _run(*self.inside("ip", "addr", "add", f"{NODE_ADDRESS}/32", "dev", self.bridge))
        _run(*self.inside("ip", "link", "set", self.bridge, "up"))
        _run(*self.inside("ip", "route", "add", "default", "dev", self.bridge))
        # Both are per network namespace: the host's own stay as they are.
        _run(*self.inside("sysctl", "-q", "-w", "net.ipv4.ip_forward=1"))
        _run(*self.inside("sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1"))

    def delete(self) -> None:
        """Deleting the namespace takes its bridges, veths and kube-proxy's rules."""
        if self.exists():
            _run("ip", "netns", "delete", self.name)
