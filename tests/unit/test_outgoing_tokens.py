"""Our own tokens for what we send: a projected file re-read before each send, and a
TokenRequest token reused until most of its life is spent."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from qiskit_operator.auth import tokens
from qiskit_operator.auth.tokens import ProjectedToken, RequestedToken, authorization
from qiskit_operator.errors import TransientError
from qiskit_operator.kube.client import KubeConnection
from qiskit_operator.kube.tokens import IssuedToken

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_a_projected_token_is_read_again_before_each_send(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    source = ProjectedToken(path)
    assert authorization(source) == {"Authorization": "Bearer first"}
    path.write_text("rotated by the kubelet")
    assert source.token() == "rotated by the kubelet"


def test_a_missing_projected_token_is_a_transient_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(TransientError, match="gone"):
        ProjectedToken(tmp_path / "gone").token()


def test_no_source_means_no_header() -> None:
    assert authorization(None) == {}


def test_a_requested_token_is_reused_until_a_fifth_of_its_life_is_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issued: list[tuple[str, str, str, int]] = []

    def request(
        connection: KubeConnection, namespace: str, name: str, audience: str, seconds: int
    ) -> IssuedToken:
        issued.append((namespace, name, audience, seconds))
        return IssuedToken(f"token-{len(issued)}", now[0] + dt.timedelta(seconds=seconds))

    monkeypatch.setattr(tokens, "request_token", request)
    now = [START]
    source = RequestedToken(
        KubeConnection("unused"), "ns", "sa", "aud", seconds=1000, now=lambda: now[0]
    )
    assert source.token() == "token-1"
    now[0] = START + dt.timedelta(seconds=799)
    assert source.token() == "token-1"
    now[0] = START + dt.timedelta(seconds=800)
    assert source.token() == "token-2"
    assert issued[0] == ("ns", "sa", "aud", 1000)
