"""The dev Broker's side of Knative's OIDC sender identity.

What Knative's Broker does once `authentication-oidc` is on: its ingress takes an
event only with a token for the Broker's audience from a sender some EventPolicy
admits for that event (auth/policy.py), and each Trigger delivers, and puts
replies back, as the Trigger's own OIDC ServiceAccount, with a token the
TokenRequest API issued for the subscriber's audience. Used by routing/ingress.py
(`qop broker`, the dev stack).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from qiskit_operator.auth import identities
from qiskit_operator.auth.policy import BrokerPolicy
from qiskit_operator.auth.tokens import RequestedToken, TokenSource
from qiskit_operator.auth.verifying import SenderVerifier
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.routing.triggers import Trigger


def trigger_subject(trigger: Trigger) -> str:
    """Who a Trigger's deliveries and replies come from."""
    account = identities.oidc_service_account(identities.TRIGGER, trigger.name)
    return identities.subject(trigger.namespace, account)


class TriggerIdentities(Protocol):
    def for_trigger(self, trigger: Trigger) -> TokenSource | None: ...


@dataclass
class TriggerTokens:
    """Each Trigger's token for its subscriber's audience, requested as Knative's
    filter does; none for a subscriber that names no audience."""

    connection: KubeConnection
    _sources: dict[str, RequestedToken] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def for_trigger(self, trigger: Trigger) -> TokenSource | None:
        if not trigger.subscriber_audience:
            return None
        with self._lock:
            source = self._sources.get(trigger.name)
            if source is None:
                source = RequestedToken(
                    self.connection,
                    trigger.namespace,
                    identities.oidc_service_account(identities.TRIGGER, trigger.name),
                    trigger.subscriber_audience,
                )
                self._sources[trigger.name] = source
            return source


@dataclass(frozen=True, slots=True)
class BrokerAuth:
    """Everything the dev Broker needs to check and send tokens."""

    verifier: SenderVerifier
    """For the Broker's own audience; who may send what is `policy`'s to say."""
    policy: BrokerPolicy
    tokens: TriggerIdentities
    """Each Trigger's token for its subscriber: `TriggerTokens` on a real API server."""
