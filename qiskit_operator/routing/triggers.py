"""Knative Trigger filters, read from the same manifests a cluster applies.

Implements the legacy `filter.attributes` (every attribute must match exactly;
an empty value matches any value that is present) and the `filters` dialects
exact, prefix, suffix, all, any and not. When `filters` is non-empty,
`filter` is ignored, as Knative does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from qiskit_operator.events.envelope import Envelope

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 9x faster


class TriggerFilter(Protocol):
    def matches(self, event: Envelope) -> bool: ...


class TriggerError(ValueError):
    """A Trigger manifest this router cannot understand."""


@dataclass(frozen=True, slots=True)
class AttributesFilter:
    attributes: tuple[tuple[str, str], ...]

    def matches(self, event: Envelope) -> bool:
        for name, wanted in self.attributes:
            actual = event.attribute(name)
            if actual is None or (wanted != "" and actual != wanted):
                return False
        return True


@dataclass(frozen=True, slots=True)
class StringFilter:
    """exact, prefix or suffix on one attribute."""

    dialect: str
    name: str
    value: str

    def matches(self, event: Envelope) -> bool:
        actual = event.attribute(self.name)
        if actual is None:
            return False
        if self.dialect == "exact":
            return actual == self.value
        if self.dialect == "prefix":
            return actual.startswith(self.value)
        return actual.endswith(self.value)


@dataclass(frozen=True, slots=True)
class AllFilter:
    filters: tuple[TriggerFilter, ...]

    def matches(self, event: Envelope) -> bool:
        return all(f.matches(event) for f in self.filters)


@dataclass(frozen=True, slots=True)
class AnyFilter:
    filters: tuple[TriggerFilter, ...]

    def matches(self, event: Envelope) -> bool:
        return any(f.matches(event) for f in self.filters)


@dataclass(frozen=True, slots=True)
class NotFilter:
    filter: TriggerFilter

    def matches(self, event: Envelope) -> bool:
        return not self.filter.matches(event)


@dataclass(frozen=True, slots=True)
class DeliverySpec:
    retry: int = 0
    backoff_policy: str = "exponential"
    backoff_delay_seconds: float = 0.0
    dead_letter: str | None = None

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based), as Knative computes it."""
        if self.backoff_policy == "linear":
            return self.backoff_delay_seconds * attempt
        return self.backoff_delay_seconds * float(2 ** (attempt - 1))


@dataclass(frozen=True, slots=True)
class Trigger:
    name: str
    broker: str
    subscriber: str
    filter: TriggerFilter
    delivery: DeliverySpec
    namespace: str = "default"
    subscriber_audience: str | None = None
    """`spec.subscriber.audience`: with OIDC sender identity on, the Trigger's
    deliveries carry a token for it (a Knative Service publishes none itself)."""


def parse_filter(expression: dict[str, Any]) -> TriggerFilter:
    if len(expression) != 1:
        raise TriggerError(f"a filter expression has exactly one dialect, got {list(expression)}")
    ((dialect, body),) = expression.items()
    if dialect in ("exact", "prefix", "suffix"):
        if not isinstance(body, dict) or len(body) != 1:
            raise TriggerError(f"{dialect} takes exactly one attribute, got {body!r}")
        ((name, value),) = body.items()
        return StringFilter(dialect, str(name), str(value))
    if dialect in ("all", "any"):
        if not isinstance(body, list) or not body:
            raise TriggerError(f"{dialect} takes a non-empty list of filter expressions")
        parts = tuple(parse_filter(part) for part in body)
        return AllFilter(parts) if dialect == "all" else AnyFilter(parts)
    if dialect == "not":
        return NotFilter(parse_filter(body))
    raise TriggerError(f"filter dialect {dialect!r} is not supported (cesql is not)")


_DURATION = re.compile(r"^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$")


def parse_iso_duration(text: str) -> float:
    match = _DURATION.match(text)
    if not match:
        raise TriggerError(f"backoffDelay {text!r} is not an ISO 8601 duration like PT0.5S")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


def parse_trigger(manifest: dict[str, Any]) -> Trigger:
    spec = manifest.get("spec", {})
    filters = spec.get("filters") or []
    trigger_filter: TriggerFilter
    if filters:
        trigger_filter = AllFilter(tuple(parse_filter(f) for f in filters))
    else:
        attributes = (spec.get("filter") or {}).get("attributes") or {}
        trigger_filter = AttributesFilter(tuple((str(k), str(v)) for k, v in attributes.items()))
    delivery = spec.get("delivery") or {}
    dead_letter = ((delivery.get("deadLetterSink") or {}).get("ref") or {}).get("name")
    return Trigger(
        name=manifest["metadata"]["name"],
        broker=spec.get("broker", "default"),
        subscriber=spec["subscriber"]["ref"]["name"],
        filter=trigger_filter,
        delivery=DeliverySpec(
            retry=int(delivery.get("retry", 0)),
            backoff_policy=delivery.get("backoffPolicy", "exponential"),
            backoff_delay_seconds=parse_iso_duration(delivery.get("backoffDelay", "PT0S")),
            dead_letter=dead_letter,
        ),
        namespace=manifest["metadata"].get("namespace", "default"),
        subscriber_audience=spec["subscriber"].get("audience"),
    )


def load_triggers(path: Path) -> list[Trigger]:
    with path.open() as stream:
        documents = [d for d in yaml.load_all(stream, Loader=_SafeLoader) if d]
    return [parse_trigger(d) for d in documents if d.get("kind") == "Trigger"]
