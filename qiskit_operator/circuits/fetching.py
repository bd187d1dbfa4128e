"""Fetching a circuit's source text from `circuit.url`, guarded against SSRF.

Called by the validate function's circuit sources when `spec.circuit.source` is
`url`. A job's author picks the URL and the operator fetches it from inside the
cluster, so every hop (the URL and each redirect) is checked before anything is
sent: http(s) only, https unless allowed, no credentials in the URL, and no
private, loopback, link-local or otherwise non-public address unless the policy
allows it. Failures are `UserError` (change the URL) or `TransientError` (retry).

DNS rebinding: the host is resolved, checked, then connected to. For http the
connection goes to the checked address itself (Host header set), so a second,
different DNS answer cannot redirect it. For https the connection is made by
name, so a rebinding answer can still make it open a TCP connection and send a
TLS ClientHello to an internal address; the internal server cannot present a
certificate for the public name, so verification fails and nothing is read.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from qiskit_operator.circuits.fetch_deadline import FetchDeadline, session
from qiskit_operator.errors import OperatorError, TransientError, UserError

_IP: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_RETRYABLE_4XX = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    allow_http: bool = False
    """https only unless this is set."""
    allow_private: bool = False
    """Loopback, private, link-local, reserved, multicast, unspecified addresses are refused."""
    allowed_hosts: frozenset[str] = frozenset()
    """`host` or `host:port` always allowed: an in-cluster server, or a test server."""
    max_bytes: int = 1 << 20
    timeout_seconds: float = 10.0
    """Limit for connecting, for each read, and for the whole fetch."""
    max_redirects: int = 3


def fetch_circuit(url: str, policy: UrlPolicy) -> str:
    """The text at `url`, following at most `policy.max_redirects` redirects."""
    # Connecting, headers and body, of every hop: all within the one deadline.
    with FetchDeadline(policy.timeout_seconds).running() as deadline, session() as opened:
        for _ in range(policy.max_redirects + 1):
            target = _checked(url, policy)
            body, location = _get(opened, target, policy, deadline)
            if location is None:
                return _decoded(body, target)
            url = urljoin(url, location)
    raise UserError(
        f"circuit.url {_shown(urlsplit(url))} redirects more than {policy.max_redirects} times",
        reason="CircuitUrlRefused",
    )


def _shown(parts: SplitResult) -> str:
    # Query strings often carry tokens; they stay out of messages and statuses.
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _refuse(message: str) -> UserError:
    return UserError(message, reason="CircuitUrlRefused")


def _checked(url: str, policy: UrlPolicy) -> _Target:
    parts = urlsplit(url.strip())
    schemes = "http or https" if policy.allow_http else "https"
    if parts.scheme not in ("http", "https"):
        raise _refuse(f"circuit.url {_shown(parts)} must use {schemes}, not {parts.scheme!r}")
    if parts.scheme == "http" and not policy.allow_http:
        raise _refuse(f"circuit.url {_shown(parts)} uses http; use https")
    if parts.username is not None or parts.password is not None:
        raise _refuse(f"circuit.url {_shown(parts)} has credentials in it; remove user:pass@")
    try:
        port = parts.port if parts.port is not None else 443 if parts.scheme == "https" else 80
    except ValueError as e:
        raise _refuse(f"circuit.url {_shown(parts)} has an invalid port") from e
    if port == 0:
        raise _refuse(f"circuit.url {_shown(parts)} has an invalid port")
    if not parts.hostname:
        raise _refuse(f"circuit.url {_shown(parts)} has no host")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError as e:
        raise _refuse(f"circuit.url {_shown(parts)} has an invalid host name") from e
    addresses = _resolved(host, port, parts)
    named = f"[{host}]" if ":" in host else host
    authority = named if parts.port is None else f"{named}:{port}"
    allowed = {entry.lower() for entry in policy.allowed_hosts}
    if not policy.allow_private and not {host, f"{named}:{port}"} & allowed:
        for address in addresses:
            if not _is_public(address):
                raise _refuse(
                    f"circuit.url {_shown(parts)} resolves to {address}, a private or reserved "
                    "address; use a public host"
                )
    return _Target(parts, authority, addresses, port)


@dataclass(frozen=True, slots=True)
class _Target:
    parts: SplitResult
    authority: str
    """The Host header: the name as asked for, in ASCII."""
    addresses: tuple[_IP, ...]
    port: int


def _resolved(host: str, port: int, parts: SplitResult) -> tuple[_IP, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        if e.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None)):
            raise TransientError(f"could not resolve {host!r} for circuit.url: {e}") from e
        raise _refuse(f"circuit.url {_shown(parts)}: host {host!r} was not found") from e
    except OSError as e:
        raise _refuse(f"circuit.url {_shown(parts)}: host {host!r} is not valid") from e
    # Scope ids ("fe80::1%eth0") are not part of the address.
    addresses = tuple(
        dict.fromkeys(ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos)
    )
    if not addresses:
        raise _refuse(f"circuit.url {_shown(parts)}: host {host!r} has no address")
    return addresses


def _is_public(address: _IP) -> bool:
    # ::ffff:a.b.c.d and NAT64's 64:ff9b::a.b.c.d reach exactly a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    embedded: list[_IP] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.sixtofour is not None:
        embedded.append(address.sixtofour)
    return not any(
        a.is_loopback
        or a.is_private
        or a.is_link_local
        or a.is_reserved
        or a.is_multicast
        or a.is_unspecified
        or not a.is_global
        for a in embedded
    )


def _get(
    session: requests.Session, target: _Target, policy: UrlPolicy, deadline: FetchDeadline
) -> tuple[bytes, str | None]:
    """The body, or the redirect's Location (with an empty body)."""
    shown = _shown(target.parts)
    try:
        with _opened(session, target, deadline) as response:
            status = response.status_code
            if response.is_redirect:
                return b"", response.headers["location"]
            if status in _RETRYABLE_4XX or status >= 500:
                raise TransientError(f"circuit.url {shown} answered {status}; retrying may help")
            if status >= 300:
                raise UserError(
                    f"circuit.url {shown} answered {status}; check the URL",
                    reason="CircuitNotFetched",
                )
            return _read(response, shown, policy, deadline), None
    except (requests.RequestException, Urllib3Error, OSError) as e:
        raise _failed(e, shown, deadline) from e


def _failed(error: Exception, shown: str, deadline: FetchDeadline) -> OperatorError:
    # Once the deadline's timer has cut the connection, whatever broke broke late.
    if deadline.passed or isinstance(error, requests.Timeout):
        return TransientError(f"circuit.url {shown} timed out; retrying may help")
    if isinstance(error, requests.exceptions.SSLError):
        return _refuse(f"circuit.url {shown} failed TLS verification; check its certificate")
    if isinstance(error, (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader)):
        return _refuse(f"circuit.url {shown} is not a valid URL")
    return TransientError(
        f"circuit.url {shown} could not be fetched ({type(error).__name__}); retrying may help"
    )


def _opened(
    session: requests.Session, target: _Target, deadline: FetchDeadline
) -> requests.Response:
    def get(url: str, headers: dict[str, str]) -> requests.Response:
        timeout = deadline.remaining()
        return session.get(
            url, headers=headers, stream=True, allow_redirects=False, timeout=timeout
        )

    accept = {"Accept": "text/plain, */*"}
    if target.parts.scheme == "https":
        return get(urlunsplit(target.parts), accept)
    # http connects to the addresses that were checked, never to a fresh DNS answer, trying
    # each in turn as a connection by name would.
    refused: list[requests.ConnectionError] = []
    for address in target.addresses:
        ip = f"[{address}]" if address.version == 6 else str(address)
        url = urlunsplit(target.parts._replace(netloc=f"{ip}:{target.port}"))
        try:
            return get(url, {**accept, "Host": target.authority})
        except requests.ConnectionError as e:
            refused.append(e)
    raise refused[-1]


def _read(
    response: requests.Response, shown: str, policy: UrlPolicy, deadline: FetchDeadline
) -> bytes:
    too_big = UserError(
        f"circuit.url {shown} is larger than the limit of {policy.max_bytes} bytes",
        reason="CircuitTooLarge",
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise too_big
    body = bytearray()
    for chunk in response.iter_content(chunk_size=64 * 1024):
        body += chunk
        if len(body) > policy.max_bytes:
            raise too_big
    if deadline.passed:
        # A body with no length ends where the connection does, also where the timer
        # cut it: what arrived is not the whole circuit.
        raise TransientError(f"circuit.url {shown} timed out; retrying may help")
    return bytes(body)


def _decoded(body: bytes, target: _Target) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(
            f"circuit.url {_shown(target.parts)} is not UTF-8 text (bad byte at {e.start})",
            reason="CircuitNotText",
        ) from e
