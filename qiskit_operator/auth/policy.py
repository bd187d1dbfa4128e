"""A Broker's EventPolicies: which senders may post which events to it.

Read from the same knative/eventpolicies.yaml a cluster applies, so the dev
Broker (routing/ingress.py) enforces what Knative's Broker ingress does: an event
is admitted when some EventPolicy for the Broker names its sender (`from[].sub`,
a trailing `*` matching any suffix) and its `filters` (Knative's SubscriptionsAPI
filters, as Triggers use) take the event. Senders named by `from[].ref` are
resolved by Knative's controller from the object's status; the dev Broker has none
to read, so it refuses such policies rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from qiskit_operator.events.envelope import Envelope
from qiskit_operator.routing.triggers import AllFilter, TriggerFilter, parse_filter


class PolicyError(ValueError):
    """An EventPolicy manifest the dev Broker cannot enforce."""


@dataclass(frozen=True, slots=True)
class EventPolicy:
    name: str
    senders: tuple[str, ...]
    filter: TriggerFilter

    def admits(self, sender: str, event: Envelope) -> bool:
        named = any(
            sender.startswith(s[:-1]) if s.endswith("*") else sender == s for s in self.senders
        )
        return named and self.filter.matches(event)


@dataclass(frozen=True, slots=True)
class BrokerPolicy:
    policies: tuple[EventPolicy, ...]

    def admits(self, sender: str, event: Envelope) -> bool:
        return any(policy.admits(sender, event) for policy in self.policies)


def parse_policy(manifest: dict[str, Any]) -> EventPolicy:
    name = manifest["metadata"]["name"]
    spec = manifest.get("spec") or {}
    senders = []
    for entry in spec.get("from") or []:
        if "sub" not in entry:
            raise PolicyError(f"EventPolicy {name}: the dev Broker only reads from[].sub")
        senders.append(str(entry["sub"]))
    if not senders:
        raise PolicyError(f"EventPolicy {name} names no sender in from[]")
    return EventPolicy(
        name, tuple(senders), AllFilter(tuple(parse_filter(f) for f in spec.get("filters") or []))
    )


def load_broker_policy(path: Path, broker: str) -> BrokerPolicy:
    """The EventPolicies in `path` whose `to` names Broker `broker`."""
    with path.open() as stream:
        documents = [d for d in yaml.safe_load_all(stream) if d and d.get("kind") == "EventPolicy"]
    chosen = []
    for document in documents:
        targets = (document.get("spec") or {}).get("to") or []
        if any(
            (t.get("ref") or {}).get("kind") == "Broker" and t["ref"].get("name") == broker
            for t in targets
        ):
            chosen.append(parse_policy(document))
    if not chosen:
        raise PolicyError(f"{path} has no EventPolicy for Broker {broker}")
    return BrokerPolicy(tuple(chosen))
