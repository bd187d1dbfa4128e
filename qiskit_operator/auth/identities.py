"""The names Knative gives identities and audiences, so that both ends agree.

Knative Eventing names a source's or Trigger's OIDC ServiceAccount after the
object (`auth.GetOIDCServiceAccountNameForResource`: NAME-oidc-GROUP-KIND,
lowercase, when that fits in 63 characters), and a Broker's
audience GROUP/KIND/NAMESPACE/NAME. Used by the dev stack, which stands in for
Knative's controllers, and by the tests that check knative/ against them.
"""

from __future__ import annotations

_LONGEST = 63  # a DNS-1123 label

TRIGGER = ("eventing.knative.dev", "Trigger")
API_SERVER_SOURCE = ("sources.knative.dev", "ApiServerSource")
PING_SOURCE = ("sources.knative.dev", "PingSource")


def oidc_service_account(kind: tuple[str, str], name: str) -> str:
    """The ServiceAccount whose tokens a Knative object of `kind` named `name` sends."""
    group, kind_name = kind
    suffix = f"-oidc-{group}-{kind_name}"
    if len(name) + len(suffix) > _LONGEST:
        # kmeta.ChildName then hashes the name; ours are all short enough not to need it.
        raise ValueError(f"{name!r} is too long for a readable OIDC ServiceAccount name")
    return (name + suffix).lower()


def subject(namespace: str, service_account: str) -> str:
    """The `sub` of a token the API server issued for a ServiceAccount."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def broker_audience(namespace: str, name: str) -> str:
    """The audience Knative publishes for a Broker (its `status.address.audience`)."""
    return f"eventing.knative.dev/broker/{namespace}/{name}"


def service_audience(namespace: str, name: str) -> str:
    """The audience our sources and Triggers name for a function's Knative Service
    (a Service publishes none of its own)."""
    return f"serving.knative.dev/service/{namespace}/{name}"
