"""Envelope <-> HTTP, in CloudEvents binary and structured mode.

The `cloudevents` SDK does the wire format; this module keeps its types from
leaking past it (pairs of converters, as in the SDK's own `core/`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from cloudevents.conversion import to_binary as _sdk_to_binary
from cloudevents.conversion import to_structured as _sdk_to_structured
from cloudevents.exceptions import GenericException as _SDKError
from cloudevents.http import CloudEvent, from_http

from qiskit_operator.events.envelope import Envelope


class NotACloudEventError(ValueError):
    """The HTTP request does not carry a valid CloudEvent."""


def _raw(data: bytes | str | None) -> bytes | str | None:
    return data


def _to_sdk(envelope: Envelope, *, parsed: bool = False) -> CloudEvent:
    attributes: dict[str, str] = {
        "type": envelope.type,
        "source": envelope.source,
        "id": envelope.id,
        "time": envelope.time,
        "datacontenttype": envelope.datacontenttype,
        **envelope.extensions,
    }
    if envelope.subject is not None:
        attributes["subject"] = envelope.subject
    data: object = envelope.data
    if parsed and envelope.data and "json" in envelope.datacontenttype:
        data = json.loads(envelope.data)  # structured mode nests JSON data, not base64
    return CloudEvent(attributes, data)


def to_binary(envelope: Envelope) -> tuple[dict[str, str], bytes]:
    headers, body = _sdk_to_binary(_to_sdk(envelope), data_marshaller=_raw)
    return dict(headers), body or b""


def to_structured(envelope: Envelope) -> tuple[dict[str, str], bytes]:
    headers, body = _sdk_to_structured(_to_sdk(envelope, parsed=True))
    return dict(headers), body


def from_request(headers: Mapping[str, str], body: bytes) -> Envelope:
    """Decode a binary- or structured-mode request; raise NotACloudEventError."""
    try:
        event = from_http(dict(headers), body, data_unmarshaller=_raw)
        attributes = dict(event.get_attributes())
        data = event.get_data()
        if isinstance(data, str):
            data = data.encode()
        elif data is not None and not isinstance(data, bytes):
            # Structured mode: the SDK has already parsed JSON data into Python values.
            data = json.dumps(data, separators=(",", ":")).encode()
    except _SDKError as error:
        raise NotACloudEventError(f"not a CloudEvent: {error}") from error
    except RecursionError as error:  # json recurses once per level of a structured body
        raise NotACloudEventError("not a CloudEvent: its JSON is nested too deeply") from error
    extensions = {
        k: str(v)
        for k, v in attributes.items()
        if k
        not in {
            "type",
            "source",
            "subject",
            "id",
            "time",
            "datacontenttype",
            "specversion",
            "dataschema",
        }
    }
    return Envelope(
        type=str(attributes["type"]),
        source=str(attributes["source"]),
        subject=attributes.get("subject"),
        id=str(attributes["id"]),
        time=str(attributes.get("time") or ""),
        data=data or b"",
        datacontenttype=str(attributes.get("datacontenttype") or "application/json"),
        extensions=extensions,
    )
