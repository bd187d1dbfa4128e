"""A separate process that runs simulations, so a time limit can stop one.

Started by `IsolatedRunner` as `python -m qiskit_operator.execution.worker FD`.
It reads a workload frame, runs it with its own `AerRunner` and replies with the
outcome, over and over; when a run passes its deadline the parent kills the
process and starts another. Frames are msgpack (see `framing`).
"""

from __future__ import annotations

import socket
import sys
from dataclasses import asdict
from typing import Any

import msgspec

from qiskit_operator.circuits.serialization import from_qpy
from qiskit_operator.errors import UserError
from qiskit_operator.execution.aer import AerRunner, Outcome, Point, Workload
from qiskit_operator.framing import recv_frame, send_frame

MAX_FRAME = 256 << 20


def encode_workload(work: Workload, qpy: bytes) -> bytes:
    fields = {k: v for k, v in asdict(work).items() if k != "circuit"}
    return msgspec.msgpack.encode({"qpy": qpy, **fields})


def decode_workload(frame: bytes) -> Workload:
    fields: dict[str, Any] = msgspec.msgpack.decode(frame)
    circuit = from_qpy(fields.pop("qpy"))[0]
    fields["observables"] = tuple(fields["observables"])
    fields["parameter_values"] = tuple(tuple(row) for row in fields["parameter_values"])
    return Workload(circuit=circuit, **fields)


def encode_outcome(outcome: Outcome) -> bytes:
    return msgspec.msgpack.encode({"ok": asdict(outcome)})


def decode_reply(frame: bytes) -> Outcome:
    reply: dict[str, Any] = msgspec.msgpack.decode(frame)
    if "error" in reply:
        message, reason = reply["error"]
        raise UserError(message, reason=reason)
    fields = reply["ok"]
    fields["points"] = [
        Point(**{**p, "parameters": tuple(p["parameters"])}) for p in fields["points"]
    ]
    return Outcome(**fields)


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    runner = AerRunner()
    while True:
        frame = recv_frame(sock, MAX_FRAME)
        if frame is None:
            return
        try:
            reply = encode_outcome(runner.run(decode_workload(frame)))
        except UserError as error:
            reply = msgspec.msgpack.encode({"error": [error.message, error.reason]})
        except Exception as error:  # Aer's own failures: the job fails, the worker stays
            reply = msgspec.msgpack.encode(
                {"error": [f"the simulation failed: {error}", "SimulationFailed"]}
            )
        send_frame(sock, reply)


if __name__ == "__main__":
    main()
