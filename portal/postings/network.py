"""Sending one signed posting to a firm-chosen URL without letting that URL reach inside.

A firm types the URL, so it must not become a way into our own network (SSRF). The host is
resolved once, every address it gives must be public, and the request is then made to the
checked address itself (with the real name kept for TLS and the Host header), so a DNS
answer that changes between the check and the connection cannot slip through. Redirects
are never followed, and only the first bytes of the answer are read. A `Sender` keeps each
checked address's connection alive between postings, for a worker sending many.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.exceptions import HTTPError as URLLib3Error
from urllib3.util import Timeout
from urllib3.util.ssl_match_hostname import CertificateError as HostnameMismatch

from portal.errors import ValidationFailed

#: How much of an answer is kept for the delivery log.
EXCERPT_BYTES = 500
USER_AGENT = "MatterPay-Webhooks/1"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTarget(ValidationFailed):
    """The URL may not receive postings: wrong scheme, or a host that is not public."""

    code = "unsafe-webhook-url"
    title = "This URL cannot receive webhooks"


@dataclass(frozen=True)
class Target:
    """A URL that passed the checks, with the addresses it may be reached at."""

    url: str
    scheme: str
    hostname: str
    host_header: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """What came back from one POST, or why nothing usable did."""

    status_code: int | None
    excerpt: str
    latency_ms: int
    error: str | None = None
    retry_after: str | None = None

    @property
    def is_success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the public internet (not private, loopback, link-local ...).

    An IPv6 address that carries an IPv4 one (mapped ::ffff:0:0/96, 6to4 2002::/16) is
    judged by the IPv4 address it reaches. (NAT64's 64:ff9b::/96 is refused whole: reserved.)
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address.sixtofour is not None:
            address = address.sixtofour
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
    )


def resolve(hostname: str, port: int) -> list[IPAddress]:
    """Look a host name up once and return its addresses, in the resolver's order."""
    try:
        infos = socket.getaddrinfo(hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(f"The host {hostname!r} could not be resolved.") from exc
    seen: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in seen:
            seen.append(address)
    return seen


def check_url(url: str, *, allow_private: bool) -> Target:
    """Check a webhook URL's form and resolve its host; raise UnsafeTarget if it may not be used.

    https only, no credentials in the URL, no spaces or control characters, no port 0, and
    every address the host resolves to must be public. With `allow_private` (development
    and tests) plain http and loopback or private addresses are accepted too. The target's
    `url` is the normalised form to store and use: scheme and host in lower case, the host
    in IDNA, no default port, no fragment.
    """
    url = url.strip()
    if any(unicodedata.category(char)[0] in "CZ" for char in url):
        raise UnsafeTarget("The URL may not contain spaces, line breaks or control characters.")
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeTarget("Webhook URLs must start with https://.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("Put no credentials in the URL: postings are signed instead.")
    hostname = parts.hostname
    if not hostname:
        raise UnsafeTarget("The URL has no host.")
    try:
        explicit_port = parts.port
        # International names travel as IDNA (xn--...), in the Host header too.
        hostname = hostname.encode("idna").decode("ascii")
    except (ValueError, UnicodeError) as exc:
        raise UnsafeTarget("The URL's host or port is not valid.") from exc
    if explicit_port == 0:
        raise UnsafeTarget("The URL's port may not be 0.")
    default_port = 443 if parts.scheme == "https" else 80
    if explicit_port == default_port:
        explicit_port = None
    port = explicit_port or default_port
    addresses = resolve(hostname, port)
    if not addresses:
        raise UnsafeTarget(f"The host {hostname!r} has no address.")
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise UnsafeTarget(
                    f"The host {hostname!r} resolves to {address}, which is not a public address."
                )
    netloc = _host_header(hostname, explicit_port)
    return Target(
        url=urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")),
        scheme=parts.scheme,
        hostname=hostname,
        host_header=netloc,
        addresses=tuple(str(address) for address in addresses),
    )


def _host_header(hostname: str, port: int | None) -> str:
    host = f"[{hostname}]" if ":" in hostname else hostname
    return host if port is None else f"{host}:{port}"


class _PinnedAdapter(HTTPAdapter):
    """Connect to one already-checked address while TLS still checks the real host name."""

    def __init__(self, address: str, hostname: str) -> None:
        self._address = address
        self._hostname = hostname
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        host_params["host"] = self._address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self._hostname
            pool_kwargs["assert_hostname"] = self._hostname
        return host_params, pool_kwargs


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception it wraps (causes, contexts, urllib3 reasons, arguments)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        # `reason` is an exception on urllib3's errors but a string on ssl.SSLError.
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        wrapped.extend(current.args)
        todo.extend(item for item in wrapped if isinstance(item, BaseException))


def _never_connected(exc: BaseException) -> bool:
    """Whether a requests error happened before any byte was sent (so another address is safe)."""
    return any(isinstance(c, NewConnectionError | ConnectTimeoutError) for c in _causes(exc))


def _tls_failure(exc: BaseException) -> str | None:
    """Why a TLS handshake failed, in words for the delivery log; None if it was not TLS."""
    causes = list(_causes(exc))
    found = [c for c in causes if isinstance(c, ssl.SSLError)]
    if not found and not isinstance(exc, requests.exceptions.SSLError):
        return None
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or cause.reason or ""
            return _with_detail("TLS failed: the certificate was not accepted", detail)
        if isinstance(cause, HostnameMismatch):  # urllib3 checks the name it was given
            return _with_detail("TLS failed: the certificate was not accepted", str(cause))
    detail = next((str(c.reason) for c in found if c.reason), "")
    return _with_detail("TLS failed: no secure connection could be made", detail)


def _with_detail(text: str, detail: str) -> str:
    detail = " ".join(str(detail).split()).rstrip(".")
    return (f"{text} ({detail})" if detail else text)[:300]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out waiting for the answer"
    if (tls := _tls_failure(exc)) is not None:
        return tls
    if _never_connected(exc):
        return "could not connect"
    return f"connection failed: {type(exc).__name__}"


#: A kept-alive connection idle longer than this is not reused: servers close idle ones
#: (gunicorn after 2 s), and a request sent down a connection the server is closing fails.
IDLE_REUSE_SECONDS = 1.0
#: At most this many receivers' connections are kept open at once by one sender.
MAX_KEPT_SESSIONS = 64
#: After the excerpt, at most this much more of an answer is read so its connection can be
#: reused; a longer answer closes the connection instead.
DRAIN_BYTES = 64 * 1024


class Sender:
    """POSTs postings, keeping one HTTP connection alive per checked address between calls.

    A worker sends many postings to the same few receivers; opening a connection (and a TLS
    handshake) for each one costs more than the request. Sessions are keyed by the checked
    address as well as the host name, so a reused connection always goes to an address that
    passed `check_url` for this very send. Not thread-safe: one sender per worker.
    """

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str, str], tuple[requests.Session, float]] = {}

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        for session, _used in self._sessions.values():
            session.close()
        self._sessions.clear()

    def _session(self, target: Target, address: str) -> requests.Session:
        key = (target.scheme, target.hostname, address)
        now = time.monotonic()
        # Connections idle too long are closed rather than left half-open (this one too).
        for stale in [
            k for k, (_, used) in self._sessions.items() if now - used > IDLE_REUSE_SECONDS
        ]:
            self._sessions.pop(stale)[0].close()
        kept = self._sessions.pop(key, None)
        if kept is not None:
            session, _used = kept
            self._sessions[key] = (session, now)
            return session
        while len(self._sessions) >= MAX_KEPT_SESSIONS:
            oldest = next(iter(self._sessions))
            self._sessions.pop(oldest)[0].close()
        session = requests.Session()
        # Environment proxies would connect somewhere we did not check.
        session.trust_env = False
        session.mount(f"{target.scheme}://", _PinnedAdapter(address, target.hostname))
        self._sessions[key] = (session, now)
        return session

    def post(
        self,
        target: Target,
        body: str,
        headers: dict[str, str],
        *,
        timeout: float,
        verify: bool | str = True,
    ) -> Answer:
        """POST `body` to the target's checked addresses in turn and report the first answer.

        The next address is tried only when the previous one could not even be connected
        to, so a posting is never sent twice by one attempt, and only while the first
        `timeout` has not run out, so one attempt lasts at most about twice the timeout
        (within the lease).
        """
        started = time.monotonic()
        error = "no address to connect to"
        for address in target.addresses:
            if time.monotonic() - started >= timeout:
                break
            session = self._session(target, address)
            try:
                response = session.post(
                    target.url,
                    data=body.encode(),
                    headers={
                        **headers,
                        "Host": target.host_header,
                        "Content-Type": "application/json",
                        "User-Agent": USER_AGENT,
                    },
                    # Each wait is bounded, and so is their sum up to the first bytes.
                    # requests passes a urllib3 Timeout through as is; its stubs say float.
                    timeout=Timeout(  # type: ignore[arg-type]
                        connect=timeout, read=timeout, total=timeout
                    ),
                    allow_redirects=False,
                    stream=True,
                    verify=verify,
                )
            except requests.RequestException as exc:
                self._forget(target, address)
                error = _describe(exc)
                if _never_connected(exc):
                    continue
                return Answer(None, "", _elapsed_ms(started), error=error)
            raw = _read_excerpt(response)
            return Answer(
                status_code=response.status_code,
                excerpt=raw.decode("utf-8", errors="replace"),
                latency_ms=_elapsed_ms(started),
                retry_after=response.headers.get("Retry-After"),
            )
        return Answer(None, "", _elapsed_ms(started), error=error)

    def _forget(self, target: Target, address: str) -> None:
        kept = self._sessions.pop((target.scheme, target.hostname, address), None)
        if kept is not None:
            kept[0].close()


def _read_excerpt(response: requests.Response) -> bytes:
    """The answer's first bytes; the connection goes back for reuse only if the answer ended."""
    raw = b""
    reusable = False
    try:
        raw = response.raw.read(EXCERPT_BYTES, decode_content=True) or b""
        if not response.raw.isclosed():
            response.raw.read(DRAIN_BYTES, decode_content=True)
        reusable = response.raw.isclosed()
    except (requests.RequestException, URLLib3Error, OSError, ValueError):
        # The status line arrived; a body cut short or too slow changes nothing.
        pass
    finally:
        if reusable:
            response.raw.release_conn()
        else:
            response.close()
    return raw


def post(
    target: Target,
    body: str,
    headers: dict[str, str],
    *,
    timeout: float,
    verify: bool | str = True,
) -> Answer:
    """POST once on a fresh connection (see `Sender.post`)."""
    with Sender() as sender:
        return sender.post(target, body, headers, timeout=timeout, verify=verify)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
