"""Log lines of the functions and `qop`: JSON (one object a line) or text, with the
job, event and trace they are about, and nothing secret in them.

`configure` is called once by `qop`'s `main()`. Where an event is handled
(`tracing.handling`, used by `serving` and the local pipeline) `bound` puts the
event's fields in a context variable, so every line logged meanwhile, by any
module, carries them. Every line passes `redact`: credentials, URL user info,
keys and circuit sources never reach the stream (docs/observability.md).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TextIO

MAX_MESSAGE = 4096
MAX_FIELD = 512
MAX_EXCEPTION = 8192

_fields: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "qop_log_fields", default=MappingProxyType({})
)


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Add `fields` (those not None) to every line logged inside the block, in this
    thread or task; an inner block adds to (and may override) an outer one."""
    token = _fields.set({**_fields.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _fields.reset(token)


def current() -> Mapping[str, str]:
    """The fields `bound` has set here."""
    return _fields.get()


# --- redaction ---------------------------------------------------------------------

_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)", re.S)
_JWT = re.compile(r"\beyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]*")
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[\w.~+/=-]{8,}")
_AUTHORIZATION = re.compile(r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)[^\"',;\r\n}]+")
_SECRET_VALUE = re.compile(
    r"(?i)((?:token|password|passwd|secret|api[_-]?key|access[_-]?key|client-key-data|"
    r"private[_-]?key|credentials?|signature|sig)\b[\"']?\s*[:=]\s*[\"']?)"
    r"(?!\[redacted)[^\"'\s,;&}]+"
)
_SECRET_WORDS = ("token", "passw", "secret", "key", "credential", "sig")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s?#@]+@")
_CIRCUIT = re.compile(r"OPENQASM\s*\d|\b(?:from|import)\s+qiskit\b|\bQuantumCircuit\s*\(")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{256,}={0,2}")
_SECRET_NAME = re.compile(
    r"(?i)authorization|token|password|passwd|secret|api[_-]?key|credential|cookie|"
    r"kubeconfig|private[_-]?key"
)
_SOURCE_NAMES = frozenset({"code", "circuit", "source_code", "qasm", "qpy", "program", "body"})


def redact(text: str, limit: int = MAX_FIELD, *, circuits: bool = True) -> str:
    """`text` without credentials, URL user info, keys, tokens or circuit sources (the
    rest of the text from where a circuit starts is dropped), at most `limit` chars."""
    # Substring checks first: most lines hold none of these, and the patterns cost
    # microseconds each on every line.
    lowered = text.lower()
    if "-----begin" in lowered:
        text = _PEM.sub("[redacted key or certificate]", text)
    if "eyJ" in text:
        text = _JWT.sub("[redacted token]", text)
    if "authoriz" in lowered:
        text = _AUTHORIZATION.sub(r"\1[redacted]", text)
    if "bearer" in lowered:
        text = _BEARER.sub(r"\1\2[redacted]", text)
    if any(word in lowered for word in _SECRET_WORDS):
        text = _SECRET_VALUE.sub(r"\1[redacted]", text)
    if "@" in text and "://" in text:
        text = _URL_USERINFO.sub(r"\1[redacted]@", text)
    if len(text) >= 256:
        text = _BASE64_RUN.sub(lambda m: f"[redacted base64, {len(m.group())} chars]", text)
    if circuits and ("openqasm" in lowered or "qiskit" in lowered or "quantumcircuit" in lowered):
        found = _CIRCUIT.search(text)
        if found is not None:
            rest = len(text) - found.start()
            text = f"{text[: found.start()]}[redacted circuit source, {rest} chars]"
    if len(text) > limit:
        text = f"{text[:limit]}... [{len(text) - limit} more chars]"
    return text


def redact_field(name: str, value: object) -> object:
    """A structured field's value as it may be logged: secrets by name are dropped,
    circuit sources by name are only measured, other strings are `redact`ed."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    if _SECRET_NAME.search(name):
        return "[redacted]"
    if name.lower() in _SOURCE_NAMES:
        return f"[redacted, {len(text)} chars]"
    return redact(text)


def describe_exception(error: BaseException) -> tuple[str, str]:
    """(`Type: message`, the traceback) of an exception, both redacted. Circuit text is
    looked for in messages only: the frames' lines are this project's own code."""
    summary = redact(f"{type(error).__name__}: {error}", MAX_FIELD)
    parts = []
    for chunk in traceback.TracebackException.from_exception(error).format():
        frame = chunk.startswith('  File "')
        parts.append(redact(chunk, MAX_EXCEPTION, circuits=not frame))
    text = "".join(parts).rstrip()
    if len(text) > MAX_EXCEPTION:  # the end says what went wrong; keep it
        text = f"... [{len(text) - MAX_EXCEPTION} chars before]\n{text[-MAX_EXCEPTION:]}"
    return summary, text


# --- formatters --------------------------------------------------------------------

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def _message(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except (TypeError, ValueError):  # arguments that do not fit the format
        text = f"{record.msg!s} {record.args!r}"
    return redact(text, MAX_MESSAGE)


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {
        key: redact_field(key, value)
        for key, value in vars(record).items()
        if key not in _STANDARD and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the bound fields, the
    record's `extra` fields, and `error` and `exception` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        line.update(current())
        line.update(_extras(record))
        if record.exc_info and record.exc_info[1] is not None:
            line["error"], line["exception"] = describe_exception(record.exc_info[1])
        if record.stack_info:
            line["stack"] = redact(record.stack_info, MAX_EXCEPTION, circuits=False)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The human format `qop` always had (`LEVEL logger: message`), redacted, with the
    job and trace it is about at the end."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.name}: {_message(record)}"
        fields = {**current(), **_extras(record)}
        if fields:
            text += " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]"
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + describe_exception(record.exc_info[1])[1]
        return text


# --- configuration -----------------------------------------------------------------

# Third-party loggers whose chatter is not what anyone ran qop for (pass timings,
# request lines), and the Kubernetes client, which logs response bodies (ConfigMaps
# with circuit sources, Secrets) at DEBUG: never below these levels.
_FLOORS = {
    "qiskit": logging.WARNING,
    "werkzeug": logging.WARNING,
    "stevedore": logging.WARNING,
    "kubernetes": logging.INFO,
}


class _Reroute(logging.Filter):
    """gunicorn gives its loggers a handler of its own (plain text) and turns their
    propagation off when it starts, after `configure`. A logger's filters survive that:
    this one hands each record to our handler instead, and stops gunicorn's."""

    def __init__(self, handler: logging.Handler) -> None:
        super().__init__()
        self.handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= self.handler.level:
            self.handler.handle(record)
        return False


def resolve_format(configured: str, stream: TextIO) -> str:
    """`json` or `text`. LOG_FORMAT, when set, decides (anything but `text` is JSON);
    unset (empty), a terminal gets text (a person reads it) and anything else JSON (a
    log pipeline reads it)."""
    if configured.strip():
        return "text" if configured.strip().lower() == "text" else "json"
    isatty = getattr(stream, "isatty", None)
    return "text" if callable(isatty) and isatty() else "json"


def configure(
    level: str,
    log_format: str,
    *,
    stream: TextIO | None = None,
) -> str:
    """Send every log line of this process, gunicorn's and Python warnings included,
    to `stream` (stderr) in one format; returns the format chosen. Idempotent."""
    stream = sys.stderr if stream is None else stream
    chosen = resolve_format(log_format, stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    handler.set_name("qop")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "qop"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.strip().upper(), logging.INFO))
    for name, floor in _FLOORS.items():
        logging.getLogger(name).setLevel(max(floor, root.level))
    for name in ("gunicorn.error", "gunicorn.access"):
        gunicorn = logging.getLogger(name)
        for old_filter in [f for f in gunicorn.filters if isinstance(f, _Reroute)]:
            gunicorn.removeFilter(old_filter)
        gunicorn.addFilter(_Reroute(handler))
    logging.captureWarnings(True)
    return chosen
