"""Tokens for a ServiceAccount from the TokenRequest API, as Knative's senders get them.

Used by auth/tokens.py for the dev Broker (which sends as each Trigger's OIDC
ServiceAccount) and `qop watch` (which sends as the ApiServerSource's); the caller's
own credentials must allow `create` on `serviceaccounts/token` for that account.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.errors import translate


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires: dt.datetime


def request_token(
    connection: KubeConnection, namespace: str, name: str, audience: str, seconds: int = 3600
) -> IssuedToken:
    """A token for ServiceAccount namespace/name and `audience`, valid for `seconds`."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    body = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[audience], expiration_seconds=seconds)
    )
    what = f"requesting a token for {namespace}/{name} (audience {audience})"
    try:
        answer = connection.core().create_namespaced_service_account_token(name, namespace, body)
    except ApiException as error:
        raise translate(error, what) from error
    except HTTPError as error:
        raise translate(error, what) from error
    return IssuedToken(answer.status.token, answer.status.expiration_timestamp)
