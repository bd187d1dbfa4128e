"""A CloudEvent as this project handles it: a frozen, framework-free value.

Every function receives one `Envelope` and replies with at most one. The
payload stays JSON bytes here; `payloads.decode` turns it into a typed struct.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from qiskit_operator.events import types


@dataclass(frozen=True, slots=True)
class Envelope:
    type: str
    source: str
    subject: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat().replace("+00:00", "Z"))
    data: bytes = b""
    datacontenttype: str = "application/json"
    extensions: dict[str, str] = field(default_factory=dict)

    def extension(self, name: str) -> str | None:
        return self.extensions.get(name)

    def attribute(self, name: str) -> str | None:
        """Any context attribute by its CloudEvents name, for Trigger filters."""
        if name in _CORE:
            value = getattr(self, name)
            return None if value is None else str(value)
        if name == "specversion":
            return "1.0"
        return self.extensions.get(name)

    def reply(self, type_: str, source: str, data: bytes, **extensions: str) -> Envelope:
        """An event answering this one: same subject, trace and job extensions."""
        carried = {
            k: v
            for k, v in self.extensions.items()
            if k in (types.EXT_JOB_UID, types.EXT_GENERATION, types.EXT_TRACEPARENT)
        }
        carried.update(extensions)
        return Envelope(
            type=type_, source=source, subject=self.subject, data=data, extensions=carried
        )


_CORE = frozenset({"type", "source", "subject", "id", "time", "datacontenttype"})
