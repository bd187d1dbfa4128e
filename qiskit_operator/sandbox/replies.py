"""What validate's sandbox children and their parent say to each other, typed and bounded.

The pool encodes a `ProgramRequest` and decodes a `ProgramReply`; a child does the
reverse (`zygote`). A child runs a stranger's program, so what it sends is hostile
input: the parent reads at most `reply_limit()` bytes and decodes them into these
types only, with every string and list bounded, so no frame can grow the parent by
more than about its own size. Anything else is the program's error
(`MalformedReplyError`). msgpack, never pickle.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

MAX_NAME_CHARS = 256
"""A variable's name in a reply; longer names are cut by the child."""
MAX_NAMES = 1024
"""Circuit names in one reply; more are cut by the child."""
MAX_MESSAGE_CHARS = 4096
"""An error message in one reply; longer ones are cut by the child."""
_ENVELOPE_BYTES = MAX_NAMES * (MAX_NAME_CHARS + 8) + MAX_MESSAGE_CHARS * 4 + 1024

Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS)]


class ProgramRequest(msgspec.Struct, frozen=True, array_like=True):
    """A source for a child: a Python program and the variable that names its circuit, or
    OpenQASM 3 to parse (`parsing`), whose parser has no bound of its own on time or memory."""

    code: str
    variable: Name | None = None
    language: Literal["python", "qasm3"] = "python"


class ProgramBuilt(msgspec.Struct, frozen=True, tag="ok", array_like=True):
    """The program built a circuit: its QPY, the variable it came from, every circuit's name."""

    qpy: bytes
    variable: Name
    circuits: Annotated[list[Name], msgspec.Meta(max_length=MAX_NAMES)]


class ProgramFailed(msgspec.Struct, frozen=True, tag="error", array_like=True):
    """The program built no circuit: an error kind, a message, and its line if known."""

    kind: Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS)]
    message: Annotated[str, msgspec.Meta(max_length=MAX_MESSAGE_CHARS)]
    line: Annotated[int, msgspec.Meta(ge=0)] | None = None


ProgramReply = ProgramBuilt | ProgramFailed


class MalformedReplyError(ValueError):
    """A child sent something that is not a reply of this protocol."""


def reply_limit(max_qpy_bytes: int) -> int:
    """The largest frame a parent reads: the QPY bound plus the bounded rest."""
    return max_qpy_bytes + _ENVELOPE_BYTES


_REQUEST_DECODER = msgspec.msgpack.Decoder(ProgramRequest)
_REPLY_DECODER = msgspec.msgpack.Decoder(ProgramReply)
_ENCODER = msgspec.msgpack.Encoder()


def encode(message: ProgramRequest | ProgramBuilt | ProgramFailed) -> bytes:
    return _ENCODER.encode(message)


def decode_request(frame: bytes) -> ProgramRequest:
    """A child's request; MalformedReplyError when the parent sent nonsense."""
    try:
        return _REQUEST_DECODER.decode(frame)
    except msgspec.DecodeError as error:
        raise MalformedReplyError(f"malformed sandbox request: {error}") from error


def decode_reply(frame: bytes, max_qpy_bytes: int) -> ProgramReply:
    """A child's reply, typed; MalformedReplyError for anything else."""
    try:
        reply: ProgramReply = _REPLY_DECODER.decode(frame)
    except msgspec.DecodeError as error:  # ValidationError is a DecodeError
        raise MalformedReplyError(str(error)) from error
    if isinstance(reply, ProgramBuilt) and len(reply.qpy) > max_qpy_bytes:
        raise MalformedReplyError(f"the circuit's QPY is over {max_qpy_bytes} bytes")
    return reply


def reply_from_result(result: list[Any]) -> ProgramBuilt | ProgramFailed:
    """A child's reply from `program.run_program`'s list, cut to the protocol's bounds."""
    if result[0] == "ok":
        _, qpy, variable, names = result
        return ProgramBuilt(
            qpy=qpy,
            variable=str(variable)[:MAX_NAME_CHARS],
            circuits=[str(name)[:MAX_NAME_CHARS] for name in names[:MAX_NAMES]],
        )
    _, kind, message, line = result
    return ProgramFailed(
        kind=str(kind)[:MAX_NAME_CHARS],
        message=str(message)[:MAX_MESSAGE_CHARS],
        line=line if isinstance(line, int) and line >= 0 else None,
    )
