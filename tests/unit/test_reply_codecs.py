"""Replies from processes that run untrusted code are hostile input: typed, bounded,
and anything else refused without growing the parent (sandbox children and the
simulation worker)."""

from __future__ import annotations

import tracemalloc

import msgspec
import pytest

from qiskit_operator.errors import UserError
from qiskit_operator.execution import messages
from qiskit_operator.execution.aer import Outcome, Point
from qiskit_operator.sandbox import replies

MAX_QPY = 1 << 20


def test_a_genuine_reply_round_trips() -> None:
    built = replies.reply_from_result(["ok", b"QISKIT", "qc", ["qc", "other"]])
    assert replies.decode_reply(replies.encode(built), MAX_QPY) == built
    failed = replies.reply_from_result(["error", "SyntaxError", "bad", 3])
    assert replies.decode_reply(replies.encode(failed), MAX_QPY) == failed


def test_a_child_cuts_names_messages_and_lists_to_the_protocols_bounds() -> None:
    many = [f"c{i}" for i in range(replies.MAX_NAMES + 5)]
    built = replies.reply_from_result(["ok", b"", "x" * 1000, many])
    assert isinstance(built, replies.ProgramBuilt)
    assert len(built.variable) == replies.MAX_NAME_CHARS
    assert len(built.circuits) == replies.MAX_NAMES
    failed = replies.reply_from_result(["error", "E", "m" * 10**6, -4])
    assert isinstance(failed, replies.ProgramFailed)
    assert len(failed.message) == replies.MAX_MESSAGE_CHARS and failed.line is None
    # What it cuts still decodes.
    replies.decode_reply(replies.encode(built), MAX_QPY)
    replies.decode_reply(replies.encode(failed), MAX_QPY)


FORGED = {
    "untagged": msgspec.msgpack.encode(["pwned", 1, 2, 3]),
    "the wrong types": msgspec.msgpack.encode(["ok", 123, None, {}]),
    "a name over the bound": msgspec.msgpack.encode(["ok", b"", "n" * 10_000, []]),
    "too many names": msgspec.msgpack.encode(["ok", b"", "qc", ["a"] * 5000]),
    "a negative line": msgspec.msgpack.encode(["error", "E", "m", -1]),
    "not msgpack": b"\xc1\xc1\xc1",
    "truncated": msgspec.msgpack.encode(["ok", b"x" * 100, "qc", []])[:-10],
    "an array claiming four billion items": b"\xdd\xff\xff\xff\xff",
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_a_forged_sandbox_reply_is_refused(name: str) -> None:
    with pytest.raises(replies.MalformedReplyError):
        replies.decode_reply(FORGED[name], MAX_QPY)


def test_a_reply_whose_circuit_is_over_the_qpy_bound_is_refused() -> None:
    big = replies.encode(replies.reply_from_result(["ok", b"q" * (MAX_QPY + 1), "qc", ["qc"]]))
    with pytest.raises(replies.MalformedReplyError, match="QPY"):
        replies.decode_reply(big, MAX_QPY)
    assert replies.reply_limit(MAX_QPY) < 64 << 20  # well below the old 64 MiB frame


def test_a_frame_of_nested_arrays_does_not_grow_the_parent_beyond_its_size() -> None:
    # Decoded untyped, each one-byte empty array is a 56-byte list: the review's 73 times.
    frame = b"\x91" * (4 << 20) + b"\x90"
    tracemalloc.start()
    try:
        with pytest.raises(replies.MalformedReplyError):
            replies.decode_reply(frame, MAX_QPY)
        with pytest.raises(messages.MalformedReplyError):
            messages.decode_reply(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(frame), f"decoding grew the parent by {peak} bytes"


def test_a_simulation_outcome_round_trips_through_the_worker_codec() -> None:
    outcome = Outcome(
        points=[Point(parameters=(0.5,), counts={"0x0": 3, "0x3": 5})],
        method="statevector",
        seed=7,
        transpiled=True,
        transpiled_depth=4,
        transpile_seconds=0.01,
        execution_seconds=0.02,
        registers=["c"],
        register_sizes=[2],
    )
    assert messages.decode_reply(messages.encode_outcome(outcome)) == outcome


def test_the_workers_refusal_is_the_jobs_error_and_a_forged_reply_is_malformed() -> None:
    with pytest.raises(UserError, match="too big") as raised:
        messages.decode_reply(messages.encode_failure("too big", "CircuitTooLarge"))
    assert raised.value.reason == "CircuitTooLarge"
    forged = msgspec.msgpack.encode({"type": "ok", "points": [{"parameters": "x"}]})
    with pytest.raises(messages.MalformedReplyError):
        messages.decode_reply(forged)
    with pytest.raises(messages.MalformedReplyError):
        messages.decode_reply(msgspec.msgpack.encode({"ok": {"points": []}}))
