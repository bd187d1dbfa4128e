"""Least privilege, proven on a real API server with `kubectl auth can-i --as`."""

from __future__ import annotations

import pytest

from qiskit_operator.local.devcluster import DevCluster

NS = "qiskit-operator"

ALLOWED = {
    "qiskit-validate": [
        ("get", "configmaps"),
        ("list", "configmaps"),
        ("watch", "configmaps"),
        ("list", "qiskitbackends.quantum.io"),  # backend selection reads the catalogue
        ("get", "qiskitsessions.quantum.io"),  # a job's session: open? which backend?
        ("list", "qiskitbudgets.quantum.io"),  # the budget a job answers to
    ],
    "qiskit-reconcile": [
        ("get", "qiskitjobs.quantum.io"),
        ("list", "qiskitjobs.quantum.io"),  # the resync's one list a ping
        ("patch", "qiskitjobs.quantum.io/status"),
        ("delete", "qiskitjobs.quantum.io"),  # a finished job whose time to live ran out
        ("create", "configmaps"),
        ("patch", "configmaps"),  # the owner-tested JSON patch of its own results
        ("create", "events"),
        ("list", "qiskitbackends.quantum.io"),  # the catalogue, refreshed on the ping
        ("patch", "qiskitbackends.quantum.io/status"),
        ("get", "qiskitsessions.quantum.io"),  # sessions' queues (docs/sessions.md)
        ("list", "qiskitsessions.quantum.io"),
        ("patch", "qiskitsessions.quantum.io/status"),
        ("get", "qiskitbudgets.quantum.io"),  # admission and settlement: docs/budgets.md
        ("list", "qiskitbudgets.quantum.io"),
        ("update", "qiskitbudgets.quantum.io/status"),
    ],
    "qiskit-job-source": [("watch", "qiskitjobs.quantum.io"), ("list", "qiskitjobs.quantum.io")],
}
DENIED = {
    "qiskit-validate": [
        ("create", "configmaps"),
        ("patch", "qiskitjobs.quantum.io/status"),
        ("get", "secrets"),
        ("create", "events"),
        ("delete", "configmaps"),
        ("patch", "qiskitbackends.quantum.io/status"),
        ("patch", "qiskitsessions.quantum.io/status"),  # reconcile alone writes it
        ("list", "qiskitsessions.quantum.io"),
        ("update", "qiskitbudgets.quantum.io/status"),  # reconcile alone writes budgets
    ],
    "qiskit-execute": [
        ("get", "configmaps"),
        ("get", "qiskitjobs.quantum.io"),
        ("get", "secrets"),
        ("create", "events"),
        ("list", "pods"),
        ("list", "qiskitbudgets.quantum.io"),
        ("create", "serviceaccounts/token"),  # reads the API server's keys, mints nothing
    ],
    "qiskit-reconcile": [
        ("get", "secrets"),
        ("list", "secrets"),
        ("update", "qiskitjobs.quantum.io"),
        ("patch", "qiskitjobs.quantum.io"),
        ("delete", "configmaps"),
        ("get", "configmaps"),
        ("deletecollection", "qiskitjobs.quantum.io"),
        ("watch", "qiskitjobs.quantum.io"),
        ("update", "configmaps"),  # only verbs it uses: it creates or patches them
        ("patch", "events"),
        ("create", "qiskitbackends.quantum.io"),  # the administrator's catalogue, not its
        ("update", "qiskitbackends.quantum.io"),
        ("delete", "qiskitbackends.quantum.io"),
        ("create", "qiskitsessions.quantum.io"),  # the user's, not its
        ("update", "qiskitsessions.quantum.io"),
        ("delete", "qiskitsessions.quantum.io"),
        ("create", "qiskitbudgets.quantum.io"),  # a namespace's owner sets its budget
        ("update", "qiskitbudgets.quantum.io"),
        ("delete", "qiskitbudgets.quantum.io"),
    ],
    "qiskit-job-source": [("patch", "qiskitjobs.quantum.io/status"), ("get", "configmaps")],
}


def can_i(cluster: DevCluster, account: str, verb: str, resource: str) -> bool:
    subresource = ""
    if "/" in resource:
        resource, subresource = resource.split("/", 1)
    args = [
        "auth",
        "can-i",
        verb,
        resource,
        "-n",
        "default",
        f"--as=system:serviceaccount:{NS}:{account}",
    ]
    if subresource:
        args.append(f"--subresource={subresource}")
    answer = cluster.kubectl(*args, check=False).stdout.strip()
    assert answer in ("yes", "no"), answer
    return answer == "yes"


@pytest.mark.parametrize(
    ("account", "verb", "resource"), [(a, v, r) for a, rules in ALLOWED.items() for v, r in rules]
)
def test_each_function_may_do_what_it_needs(
    cluster: DevCluster, account: str, verb: str, resource: str
) -> None:
    assert can_i(cluster, account, verb, resource)


@pytest.mark.parametrize(
    ("account", "verb", "resource"), [(a, v, r) for a, rules in DENIED.items() for v, r in rules]
)
def test_and_nothing_more(cluster: DevCluster, account: str, verb: str, resource: str) -> None:
    assert not can_i(cluster, account, verb, resource)


def test_reconcile_acts_with_its_own_token_not_as_an_admin(cluster: DevCluster) -> None:
    kubeconfig = cluster.service_account_kubeconfig(NS, "qiskit-reconcile")
    whoami = cluster.kubectl(
        "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}", kubeconfig=kubeconfig
    ).stdout
    assert whoami == f"system:serviceaccount:{NS}:qiskit-reconcile"
    refused = cluster.kubectl("get", "secrets", "-n", "default", kubeconfig=kubeconfig, check=False)
    assert refused.returncode != 0 and "Forbidden" in refused.stderr


@pytest.mark.parametrize("account", ["qiskit-validate", "qiskit-execute", "qiskit-reconcile"])
def test_each_function_may_read_the_keys_it_checks_senders_tokens_with(
    cluster: DevCluster, account: str
) -> None:
    # The discovery role Kubernetes binds to every ServiceAccount: nothing of ours.
    for path in ("/.well-known/openid-configuration", "/openid/v1/jwks"):
        answer = cluster.kubectl(
            "get", "--raw", path, f"--as=system:serviceaccount:{NS}:{account}", check=False
        )
        assert answer.returncode == 0, answer.stderr


def can_read_secret(cluster: DevCluster, account: str, namespace: str, name: str) -> bool:
    answer = cluster.kubectl(
        "auth", "can-i", "get", f"secret/{name}", "-n", namespace,
        f"--as=system:serviceaccount:{NS}:{account}", check=False,
    ).stdout.strip()  # fmt: skip
    assert answer in ("yes", "no"), answer
    return answer == "yes"


def test_only_execute_reads_a_namespaces_credentials_and_only_where_it_is_bound(
    cluster: DevCluster,
) -> None:
    from tests.conftest import ROOT

    cluster.kubectl("create", "namespace", "tenant-hardware", check=False)
    example = ROOT / "examples" / "credentials" / "namespace-credentials.yaml"
    cluster.kubectl("-n", "tenant-hardware", "apply", "-f", str(example))
    assert can_read_secret(cluster, "qiskit-execute", "tenant-hardware", "qiskit-credentials")
    # Only that Secret, only there, and only execute.
    assert not can_read_secret(cluster, "qiskit-execute", "tenant-hardware", "other-secret")
    assert not can_read_secret(cluster, "qiskit-execute", "kube-system", "qiskit-credentials")
    for account in ("qiskit-validate", "qiskit-reconcile", "qiskit-job-source"):
        assert not can_read_secret(cluster, account, "tenant-hardware", "qiskit-credentials")
    assert not can_i(cluster, "qiskit-execute", "list", "secrets")


def test_only_execute_reads_a_namespaces_s3_key_and_only_where_it_is_bound(
    cluster: DevCluster,
) -> None:
    from tests.conftest import ROOT

    cluster.kubectl("create", "namespace", "tenant-storage", check=False)
    example = ROOT / "examples" / "credentials" / "s3-credentials.yaml"
    cluster.kubectl("-n", "tenant-storage", "apply", "-f", str(example))
    assert can_read_secret(cluster, "qiskit-execute", "tenant-storage", "qiskit-s3-credentials")
    assert not can_read_secret(cluster, "qiskit-execute", "tenant-storage", "qiskit-credentials")
    assert not can_read_secret(cluster, "qiskit-execute", "kube-system", "qiskit-s3-credentials")
    for account in ("qiskit-validate", "qiskit-reconcile", "qiskit-job-source"):
        assert not can_read_secret(cluster, account, "tenant-storage", "qiskit-s3-credentials")
