"""`qop serve` over HTTPS (TLS_CERT_FILE, TLS_KEY_FILE) with the bounded server model:
it serves, and a renewed certificate is presented without a restart, as the kubelet
updates a mounted Secret (docs/admission.md)."""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.serving import HOST, served


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class Authority:
    """A CA for this test that signs serving certificates for 127.0.0.1."""

    def __init__(self, directory: Path) -> None:
        now = datetime.now(UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name("qop test CA"))
            .issuer_name(_name("qop test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = directory / "ca.crt"
        self.pem.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def issue(self, cert: Path, key: Path) -> int:
        """A serving certificate and its key, written to a new file each and moved into
        place, as the kubelet swaps a Secret's files; its serial number."""
        now = datetime.now(UTC)
        own_key = ec.generate_private_key(ec.SECP256R1())
        issued = (
            x509.CertificateBuilder()
            .subject_name(_name("127.0.0.1"))
            .issuer_name(self.certificate.subject)
            .public_key(own_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        key_pem = own_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        for path, content in (
            (key, key_pem),
            (cert, issued.public_bytes(serialization.Encoding.PEM)),
        ):
            fresh = path.with_suffix(".new")
            fresh.write_bytes(content)
            os.replace(fresh, path)
        return issued.serial_number


def presented_serial(port: int, ca: Path) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection((HOST, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=HOST) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


@pytest.mark.timeout(120)
def test_https_is_served_and_a_renewed_certificate_is_presented_without_a_restart(
    tmp_path: Path,
) -> None:
    authority = Authority(tmp_path)
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    first = authority.issue(cert, key)
    env = {"TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(key), "WORKERS": "1"}
    with served("reconcile", tmp_path, ca=authority.pem, **env) as (server, base):
        health = requests.get(f"{base}/health", timeout=10, verify=str(authority.pem))
        assert health.status_code == 200
        port = int(base.rsplit(":", 1)[1])
        assert presented_serial(port, authority.pem) == first
        renewed = authority.issue(cert, key)
        # The worker notices the change as a connection opens; the ones after present it.
        deadline = time.monotonic() + 30
        while (serial := presented_serial(port, authority.pem)) != renewed:
            assert serial == first
            assert time.monotonic() < deadline, "the renewed certificate was never presented"
        assert server.poll() is None  # the same server, not a restarted one
