"""A DNS A-record query written out by hand (no resolver library, no resolv.conf),
run inside the node's network namespace to ask the cluster's DNS Service."""

from __future__ import annotations

import subprocess
import sys

from qiskit_operator.local.node.network import DNS_ADDRESS, NodeNetwork

_QUERY = r"""
import socket, struct, sys
name, server = sys.argv[1], sys.argv[2]
question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
packet = struct.pack(">HHHHHH", 0x5151, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(5)
    s.sendto(packet, (server, 53))
    answer = s.recv(4096)
count = struct.unpack(">H", answer[6:8])[0]
offset = 12 + len(question) + 4
for _ in range(count):
    offset += 2 if answer[offset] & 0xC0 else len(answer[offset:].split(b"\0", 1)[0]) + 1
    kind, _, _, length = struct.unpack(">HHIH", answer[offset : offset + 10])
    offset += 10
    if kind == 1:
        print(socket.inet_ntoa(answer[offset : offset + length]))
    offset += length
"""


def resolve(network: NodeNetwork, name: str) -> list[str]:
    """The A records the cluster DNS gives for `name`, asked from the node's namespace."""
    result = subprocess.run(
        network.inside(sys.executable, "-c", _QUERY, name, DNS_ADDRESS),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.stdout.split() if result.returncode == 0 else []
