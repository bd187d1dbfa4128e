"""Length-prefixed frames over a stream socket, for the processes this project forks.

The sandbox zygote's children and the execution worker speak it with their
parent; the payloads are msgpack, never pickle.
"""

from __future__ import annotations

import socket
import struct

_HEADER = struct.Struct("!I")


def send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def recv_frame(sock: socket.socket, limit: int) -> bytes | None:
    """One frame, or None when the peer closed; ValueError when over `limit` bytes."""
    header = _recv_exact(sock, _HEADER.size)
    if header is None:
        return None
    (length,) = _HEADER.unpack(header)
    if length > limit:
        raise ValueError(f"frame of {length} bytes is over the {limit}-byte limit")
    return _recv_exact(sock, length)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(min(size - len(chunks), 1 << 20))
        if not chunk:
            return None
        chunks.extend(chunk)
    return bytes(chunks)
