"""`kubectl apply` of a bad QiskitJob is refused at once, on a real API server.

Two layers: the CRD's CEL rules, run by kube-apiserver itself, and the validate
function's admission webhook, started here as a real `qop serve validate` over
HTTPS (a throwaway CA made by the test) and registered from
knative/webhook/validatingwebhookconfiguration.yaml with a loopback URL. Only
the namespaces this module creates are sent to it, so the other e2e tests on
the shared control plane never meet the webhook; it is removed at the end.
"""

from __future__ import annotations

import base64
import ipaddress
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from qiskit_operator.local.devcluster import DevCluster
from tests.conftest import ROOT, example, job_manifest
from tests.rule_violations import VIOLATIONS, Violation
from tests.serving import served

pytestmark = pytest.mark.timeout(300)

WEBHOOK_MANIFEST = ROOT / "knative" / "webhook" / "validatingwebhookconfiguration.yaml"
CHECKED = "qop-e2e-admission"
OPTED_OUT = "qop-e2e-admission-off"
SELECTED = "qop-e2e-admission"  # the label that sends a namespace to this module's webhook
CONFIGURATION = "qop-e2e-admission"
SYNTAX_ERROR = "Python syntax error at line 4: '(' was never closed"
DENIED = 'admission webhook "validate.qiskitjobs.quantum.io" denied the request'


@dataclass(frozen=True, slots=True)
class ServingPki:
    ca: Path
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_pki(directory: Path) -> ServingPki:
    """A CA that lives for this test, and a certificate it signs for 127.0.0.1."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("qop e2e admission CA"))
        .issuer_name(_name("qop e2e admission CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=2))
        # Go's TLS, the API server's, reads only the SAN, never the common name.
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = ServingPki(ca=directory / "ca.crt", cert=directory / "tls.crt", key=directory / "tls.key")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ServingPki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def webhook(pki: ServingPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`qop serve validate` with ENABLE_WEBHOOKS over HTTPS on loopback; its base URL."""
    with served(
        "validate",
        tmp_path_factory.mktemp("webhook"),
        ca=pki.ca,
        ENABLE_WEBHOOKS="true",
        TLS_CERT_FILE=str(pki.cert),
        TLS_KEY_FILE=str(pki.key),
        WORKERS="1",
        QOP_SANDBOX_WARM="1",
    ) as (_, base):
        yield base


def configuration_for(base: str, pki: ServingPki) -> dict[str, Any]:
    """The shipped ValidatingWebhookConfiguration, pointed at the loopback server and
    narrowed to the namespaces labelled for this module."""
    configuration: dict[str, Any] = yaml.safe_load(WEBHOOK_MANIFEST.read_text())
    configuration["metadata"] = {"name": CONFIGURATION}
    (hook,) = configuration["webhooks"]
    hook["clientConfig"] = {
        "url": f"{base}/admission",
        "caBundle": base64.b64encode(pki.ca.read_bytes()).decode(),
    }
    hook["namespaceSelector"]["matchLabels"] = {SELECTED: "on"}
    return configuration


def apply(cluster: DevCluster, manifest: Any, *args: str) -> subprocess.CompletedProcess[str]:
    documents = manifest if isinstance(manifest, list) else [manifest]
    return cluster.kubectl(
        "apply", "-n", CHECKED, *args, "-f", "-", stdin=yaml.safe_dump_all(documents), check=False
    )


@pytest.fixture(scope="module")
def admitted(cluster: DevCluster, webhook: str, pki: ServingPki) -> Iterator[DevCluster]:
    """The control plane with this module's webhook registered, and a broken job in
    CHECKED from before it was."""
    for namespace, labels in (
        (CHECKED, {SELECTED: "on"}),
        (OPTED_OUT, {SELECTED: "on", "quantum.io/admission": "disabled"}),
    ):
        cluster.kubectl(
            "apply",
            "-f",
            "-",
            stdin=yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": namespace, "labels": labels},
                }
            ),
        )
    earlier = example("broken.yaml")
    earlier["metadata"]["name"] = "broken-before"
    assert apply(cluster, earlier).returncode == 0
    try:
        cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(configuration_for(webhook, pki)))
        # The API server picks a new configuration up from its informer: wait for it.
        deadline = time.monotonic() + 30
        while DENIED not in apply(cluster, example("broken.yaml"), "--dry-run=server").stderr:
            assert time.monotonic() < deadline, "the webhook was not called within 30 s"
            time.sleep(0.2)
        yield cluster
    finally:
        cluster.kubectl(
            "delete", "validatingwebhookconfiguration", CONFIGURATION, "--ignore-not-found"
        )
        cluster.kubectl(
            "delete", "namespace", CHECKED, OPTED_OUT, "--ignore-not-found", "--wait=false"
        )


def exists(cluster: DevCluster, name: str, namespace: str = CHECKED) -> bool:
    got = cluster.kubectl("get", "qjob", name, "-n", namespace, check=False)
    return got.returncode == 0


def test_a_python_syntax_error_is_refused_at_apply_with_the_line_and_the_reason(
    admitted: DevCluster,
) -> None:
    # The webhook's own answer, not the API server's after the webhook's timeout: that
    # would say "failed calling webhook", and with failurePolicy Ignore even admit it.
    refused = apply(admitted, example("broken.yaml"))
    assert refused.returncode != 0
    assert f"{DENIED}: {SYNTAX_ERROR}" in refused.stderr
    assert "failed calling webhook" not in refused.stderr
    assert not exists(admitted, "broken")


@pytest.mark.parametrize("violation", VIOLATIONS, ids=[v.name for v in VIOLATIONS])
def test_a_job_breaking_a_crd_rule_is_refused_by_the_api_server_itself(
    admitted: DevCluster, violation: Violation
) -> None:
    manifest = violation.manifest()
    refused = apply(admitted, manifest)
    assert refused.returncode != 0
    name = manifest["metadata"]["name"]
    assert f'The QiskitJob "{name}" is invalid: ' in refused.stderr
    assert violation.rule().message in refused.stderr
    assert "admission webhook" not in refused.stderr  # CEL refused it before the webhook ran
    assert not exists(admitted, name)


def test_a_good_job_is_created(admitted: DevCluster) -> None:
    created = apply(admitted, example("bell.yaml"))
    assert created.returncode == 0, created.stderr
    assert "Warning" not in created.stderr
    assert exists(admitted, "bell")


def test_a_job_whose_configmap_comes_after_it_in_the_same_apply_is_allowed_with_a_warning(
    admitted: DevCluster,
) -> None:
    job = job_manifest("from-configmap")
    job["spec"]["circuit"] = {
        "source": "configmap",
        "configMapRef": {"name": "bell-circuit", "key": "bell.qasm"},
    }
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "bell-circuit"},
        "data": {"bell.qasm": (ROOT / "tests" / "e2e" / "bell.qasm").read_text()},
    }
    created = apply(admitted, [job, configmap])
    assert created.returncode == 0, created.stderr
    assert f"Warning: {CHECKED}/from-configmap: the circuit is in a ConfigMap" in created.stderr
    assert exists(admitted, "from-configmap")


def test_an_update_that_only_changes_labels_is_allowed_even_for_a_job_now_refused(
    admitted: DevCluster,
) -> None:
    labelled = admitted.kubectl(
        "label", "qjob", "broken-before", "-n", CHECKED, "reviewed=yes", check=False
    )
    assert labelled.returncode == 0, labelled.stderr
    status = admitted.kubectl(
        "patch", "qjob", "broken-before", "-n", CHECKED, "--subresource=status", "--type=merge",
        "-p", '{"status": {"phase": "Failed", "message": "' + SYNTAX_ERROR + '"}}',
        check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr


def test_an_update_of_the_spec_is_checked_again(admitted: DevCluster) -> None:
    patched = admitted.kubectl(
        "patch", "qjob", "broken-before", "-n", CHECKED, "--type=merge",
        "-p", '{"spec": {"execution": {"shots": 10}}}',
        check=False,
    )  # fmt: skip
    assert patched.returncode != 0
    assert f"{DENIED}: {SYNTAX_ERROR}" in patched.stderr


def test_a_namespace_labelled_to_opt_out_is_not_sent_to_the_webhook(admitted: DevCluster) -> None:
    created = admitted.kubectl(
        "apply", "-n", OPTED_OUT, "-f", str(ROOT / "examples" / "broken.yaml"), check=False
    )
    assert created.returncode == 0, created.stderr  # the pipeline fails it later
    assert exists(admitted, "broken", OPTED_OUT)


def test_the_webhook_answers_bell_reviews_within_its_timeout_having_checked_them(
    admitted: DevCluster, webhook: str, pki: ServingPki
) -> None:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "bell-1",
            "kind": {"group": "quantum.io", "version": "v1", "kind": "QiskitJob"},
            "operation": "CREATE",
            "namespace": CHECKED,
            "object": example("bell.yaml"),
        },
    }
    # Each within the 5 s the API server gives the webhook (a slower answer is a
    # requests Timeout), and checked: one not checked within its budget is allowed
    # with a warning, which this response would then carry.
    with requests.Session() as session:
        for _ in range(20):
            answer = session.post(
                f"{webhook}/admission?timeout=5s", json=review, verify=str(pki.ca), timeout=5
            )
            assert answer.json()["response"] == {"uid": "bell-1", "allowed": True}
