"""The dev stack's stand-in for what Knative's controllers do once OIDC sender
identity is on, read from knative/ so that both agree: the sources' and Triggers'
OIDC ServiceAccounts, the Role that lets the ApiServerSource's adapter request its
tokens, the Broker's audience, and each function's audience and expected senders
as knative/services.yaml sets them. Used by `Stack` (local/stack.py) and the tests.
"""

from __future__ import annotations

import yaml

from qiskit_operator.auth import identities
from qiskit_operator.local.devcluster import REPO
from qiskit_operator.routing.triggers import Trigger

NAMESPACE = "qiskit-operator"
BROKER = "qiskit"
BROKER_AUDIENCE = identities.broker_audience(NAMESPACE, BROKER)
JOB_SOURCE_IDENTITY = identities.oidc_service_account(identities.API_SERVER_SOURCE, "qiskit-jobs")
PING_IDENTITY = identities.oidc_service_account(identities.PING_SOURCE, "qiskit-resync")
KNATIVE = REPO / "knative"


def service_env(service: str) -> dict[str, str]:
    """The environment knative/services.yaml gives a function's container."""
    with (KNATIVE / "services.yaml").open() as stream:
        for document in yaml.safe_load_all(stream):
            if (
                document
                and document["kind"] == "Service"
                and document["metadata"]["name"] == service
            ):
                (container,) = document["spec"]["template"]["spec"]["containers"]
                return {e["name"]: str(e.get("value", "")) for e in container.get("env", [])}
    raise KeyError(f"knative/services.yaml has no Service {service}")


def identities_manifest(triggers: list[Trigger]) -> str:
    """What Knative's controllers make once OIDC is on: an OIDC ServiceAccount for each
    source and Trigger, and a Role letting the ApiServerSource's adapter (running as
    qiskit-job-source) request tokens for its own."""
    accounts = [JOB_SOURCE_IDENTITY, PING_IDENTITY] + [
        identities.oidc_service_account(identities.TRIGGER, t.name) for t in triggers
    ]
    documents: list[dict[str, object]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": a, "namespace": NAMESPACE},
        }
        for a in accounts
    ]
    role = {"name": "qiskit-jobs-create-oidc-token", "namespace": NAMESPACE}
    documents.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": role,
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["serviceaccounts/token"],
                    "resourceNames": [JOB_SOURCE_IDENTITY],
                    "verbs": ["create"],
                }
            ],
        }
    )
    documents.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": role,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": role["name"],
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "qiskit-job-source", "namespace": NAMESPACE}
            ],
        }
    )
    return yaml.safe_dump_all(documents)
