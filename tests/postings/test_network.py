"""Where postings may go: https to public hosts only, the checked address pinned, no redirects."""

from __future__ import annotations

import http.server
import ipaddress
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.db import db
from portal.postings import delivery as worker
from portal.postings import endpoints, network
from portal.postings.models import Delivery, DeliveryAttempt, DeliveryStatus
from tests.conftest import unavailable
from tests.postings.conftest import Receiver, Reply


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "ftp://example.com/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.5/hook",
        "https://192.168.1.20/hook",
        "https://172.16.0.1/hook",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://240.0.0.1/hook",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://user:password@8.8.8.8/hook",
        "https:///hook",
        # 6to4 (2002::/16) and NAT64 (64:ff9b::/96) carry an IPv4 address: judged by it
        "https://[2002:7f00:1::]/hook",
        "https://[2002:7f00:1::1]/hook",
        "https://[2002:a9fe:a9fe::1]/latest/meta-data",
        "https://[2002:a00:5::]/hook",
        "https://[2002:c0a8:114::]/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",
        # stored URLs are normalised, so what cannot be is refused
        "https://8.8.8.8/ho\r\nX-Injected: yes",
        "https://8.8.8.8/a\x00b",
        "https://8.8.8.8/a\tb",
        "https://8.8.8.8/a b",
        "https://8.8.8.8/a\u2028b",
        "https://8.8.8.8/a\u0085b",
        "https://8.8.8.8/a\u200bb",
        "https://8.8.8.8:0/hook",
        "https://8.8.8.8:99999/hook",
    ],
)
def test_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(network.UnsafeTarget):
        network.check_url(url, allow_private=False)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("::ffff:10.1.2.3", False),
        ("2002:808:808::1", True),
        ("2002:7f00:1::", False),
        ("2002:a9fe:a9fe::", False),
        ("64:ff9b::808:808", False),
        ("64:ff9b::7f00:1", False),
        ("198.18.0.1", False),
        ("ff02::1", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert network.is_public(ipaddress.ip_address(address)) is public


def test_a_public_ip_literal_passes_without_any_lookup_of_ours() -> None:
    target = network.check_url("https://8.8.8.8:8443/hook?x=1", allow_private=False)
    assert target.addresses == ("8.8.8.8",)
    assert target.host_header == "8.8.8.8:8443"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("HTTPS://8.8.8.8:443/Hook?a=1&B=2#part", "https://8.8.8.8/Hook?a=1&B=2"),
        ("  https://8.8.8.8:8443/hook  ", "https://8.8.8.8:8443/hook"),
        ("https://[2606:4700:4700::1111]:443/hook", "https://[2606:4700:4700::1111]/hook"),
        ("https://[2002:808:808::1]/hook", "https://[2002:808:808::1]/hook"),
    ],
)
def test_a_url_is_kept_in_its_normal_form(given: str, stored: str) -> None:
    assert network.check_url(given, allow_private=False).url == stored


def test_a_url_on_loopback_is_normalised_too() -> None:
    target = network.check_url("HTTP://LocalHost:80/Hook", allow_private=True)
    assert target.url == "http://localhost/Hook"
    assert target.host_header == "localhost"


def test_loopback_and_plain_http_only_when_allowed() -> None:
    target = network.check_url("http://localhost:8080/hook", allow_private=True)
    assert "127.0.0.1" in target.addresses
    assert target.host_header == "localhost:8080"


def test_redirects_are_not_followed(receiver: Receiver, other_receiver: Receiver) -> None:
    # given a receiver that sends us elsewhere
    receiver.script = [Reply(302, headers={"Location": other_receiver.url})]
    target = network.check_url(receiver.url, allow_private=True)
    # when
    answer = network.post(target, "{}", {}, timeout=2)
    # then the redirect is the answer, and a failure; nobody else was called
    assert answer.status_code == 302
    assert not answer.is_success
    assert other_receiver.received == []


def test_only_the_first_500_bytes_of_an_answer_are_kept(receiver: Receiver) -> None:
    receiver.script = [Reply(200, body=b"x" * 5000)]
    answer = network.post(network.check_url(receiver.url, allow_private=True), "{}", {}, timeout=2)
    assert answer.is_success
    assert answer.excerpt == "x" * 500


def test_a_receiver_slower_than_the_timeout_is_a_failure(receiver: Receiver) -> None:
    receiver.script = [Reply(200, delay=2.5)]
    answer = network.post(network.check_url(receiver.url, allow_private=True), "{}", {}, timeout=1)
    assert answer.status_code is None
    assert answer.error == "timed out waiting for the answer"


def test_a_refused_connection_is_reported(receiver: Receiver) -> None:
    target = network.check_url(receiver.url, allow_private=True)
    receiver.stop()
    answer = network.post(target, "{}", {}, timeout=1)
    assert answer.status_code is None
    assert answer.error == "could not connect"


# -- TLS with the address pinned -------------------------------------------------------------


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        unavailable("openssl is needed to make a test certificate")
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(  # noqa: S603 (fixed arguments)
        [  # noqa: S607 (openssl from PATH, as the skip above checks)
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class _TLSReceiver:
    def __init__(self, cert: Path, key: Path) -> None:
        self.hosts: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.hosts.append(self.headers.get("Host", ""))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[_TLSReceiver, Path]]:
    cert, key = _certificate(tmp_path, "localhost")
    server = _TLSReceiver(cert, key)
    yield server, cert
    server.close()


def test_https_connects_to_the_checked_address_and_still_checks_the_name(tls_receiver) -> None:
    server, cert = tls_receiver
    target = network.check_url(f"https://localhost:{server.port}/hook", allow_private=True)
    answer = network.post(target, "{}", {}, timeout=2, verify=str(cert))
    assert answer.status_code == 204, answer
    assert server.hosts == [f"localhost:{server.port}"]


def test_a_certificate_for_another_name_is_refused(tls_receiver) -> None:
    server, cert = tls_receiver
    # The certificate is trusted but names localhost, not the address asked for.
    target = network.check_url(f"https://127.0.0.1:{server.port}/hook", allow_private=True)
    answer = network.post(target, "{}", {}, timeout=2, verify=str(cert))
    assert answer.status_code is None
    assert answer.error is not None
    assert answer.error.startswith("TLS failed: the certificate was not accepted (")
    assert "127.0.0.1" in answer.error
    assert server.hosts == []


def test_a_self_signed_certificate_is_a_tls_failure_with_its_reason(tls_receiver) -> None:
    server, _cert = tls_receiver
    # The certificate names the host but nobody vouches for it.
    target = network.check_url(f"https://localhost:{server.port}/hook", allow_private=True)
    answer = network.post(target, "{}", {}, timeout=2)
    assert answer.status_code is None
    assert answer.error == "TLS failed: the certificate was not accepted (self-signed certificate)"
    assert server.hosts == []


def test_a_receiver_that_does_not_speak_tls_is_a_tls_failure(receiver: Receiver) -> None:
    # given a plain-http receiver asked for over https
    target = network.check_url(f"https://127.0.0.1:{receiver.port}/hook", allow_private=True)
    answer = network.post(target, "{}", {}, timeout=2)
    assert answer.status_code is None
    assert answer.error is not None
    assert answer.error.startswith("TLS failed: no secure connection could be made"), answer


def test_an_ipv6_literal_keeps_its_brackets_in_the_host_header() -> None:
    target = network.check_url("http://[::1]:8080/hook", allow_private=True)
    assert target.addresses == ("::1",)
    assert target.host_header == "[::1]:8080"


def test_a_sender_keeps_the_connection_alive_between_posts(receiver: Receiver) -> None:
    target = network.check_url(receiver.url, allow_private=True)
    with network.Sender() as sender:
        answers = [sender.post(target, "{}", {}, timeout=2) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert len({item.peer for item in receiver.received}) == 1


def test_a_connection_idle_too_long_or_left_with_an_unread_answer_is_not_reused(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = network.check_url(receiver.url, allow_private=True)
    receiver.script = [Reply(200), Reply(200, body=b"x" * (network.DRAIN_BYTES + 1000))]
    with network.Sender() as sender:
        sender.post(target, "{}", {}, timeout=2)
        sender.post(target, "{}", {}, timeout=2)  # reused; its long answer closes it
        sender.post(target, "{}", {}, timeout=2)  # so this one opens a new connection
        monkeypatch.setattr(network, "IDLE_REUSE_SECONDS", -1.0)
        sender.post(target, "{}", {}, timeout=2)  # idle "too long": another new one
    peers = [item.peer for item in receiver.received]
    assert peers[0] == peers[1]
    assert len({peers[1], peers[2], peers[3]}) == 3


def test_the_worker_records_a_tls_failure_as_such(
    session, firm, webhook_settings, clock, tls_receiver
) -> None:
    # given an endpoint whose certificate is self-signed
    server, _cert = tls_receiver
    endpoint = endpoints.register_endpoint(firm.firm, url=f"https://localhost:{server.port}/hook")
    endpoints.send_ping(endpoint)
    db.session.commit()
    # when the worker tries it
    assert worker.deliver_due("tls-test") == 1
    # then the delivery log says why, in words, and the delivery is retried on schedule
    delivery = db.session.scalars(select(Delivery)).one()
    attempt = db.session.scalars(select(DeliveryAttempt)).one()
    assert attempt.status_code is None
    assert attempt.error == "TLS failed: the certificate was not accepted (self-signed certificate)"
    assert delivery.status is DeliveryStatus.PENDING
    assert server.hosts == []
