"""Postings fixtures: a real HTTP receiver on loopback that checks every signature, and a clock.

The receiver verifies each request with the `standardwebhooks` library, as a firm's back
office would. The library checks the timestamp against its own clock, so the `clock`
fixture moves that clock together with `portal.clock.now` (the receiver's host runs NTP).
"""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import standardwebhooks.webhooks as library
from flask import Flask
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from portal import clock as portal_clock
from portal.db import db
from portal.firms.models import Firm
from portal.payments import postings as payment_postings
from portal.payments.models import Charge, ChargeStatus
from portal.postings import delivery as worker
from portal.postings import endpoints
from portal.postings.models import OutboundMessage, WebhookEndpoint
from tests.clocks import Clock
from tests.payments.conftest import book  # noqa: F401 (a fixture, used by name)


@dataclass
class Reply:
    """What the receiver answers to one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    #: Seconds to wait before answering.
    delay: float = 0.0
    #: Wait for this event before answering (a receiver that hangs until told).
    hold: threading.Event | None = None


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    #: The secrets under which the library accepted the request.
    accepted_by: list[str]
    payload: dict[str, Any] | None
    #: The sender's (address, port): the same port means the same kept-alive connection.
    peer: tuple[str, int] | None = None

    @property
    def msg_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    """A back office's webhook receiver on 127.0.0.1, answering from a script."""

    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.script: list[Reply] = []
        self.received: list[Received] = []
        self.arrived = threading.Event()
        self.port = 0
        self._server: http.server.ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/matterpay"

    def start(self) -> Receiver:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # Keeps connections open between requests, as real receivers do.
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                reply = receiver._take(dict(self.headers.items()), body, self.client_address)
                if reply.hold is not None:
                    reply.hold.wait(30)
                if reply.delay:
                    threading.Event().wait(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the sender hung up or was killed

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Take the receiver down: its port then refuses connections."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _take(
        self, headers: dict[str, str], body: bytes, peer: tuple[str, int] | None = None
    ) -> Reply:
        lowered = {name.lower(): value for name, value in headers.items()}
        accepted, payload = [], None
        for secret in self.secrets:
            try:
                payload = Webhook(secret).verify(body, lowered)
            except WebhookVerificationError:
                continue
            accepted.append(secret)
        with self._lock:
            self.received.append(Received(lowered, body, accepted, payload, peer))
            reply = self.script.pop(0) if self.script else Reply()
        self.arrived.set()
        return reply

    def ids(self) -> list[str]:
        return [item.msg_id for item in self.received]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def other_receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def follow_clock(monkeypatch: pytest.MonkeyPatch, fake: Clock) -> None:
    """Make the library's timestamp check read the same clock as the portal."""

    class _FollowingDatetime(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
            return fake().astimezone(tz) if tz is not None else fake()

    monkeypatch.setattr(portal_clock, "now", fake)
    monkeypatch.setattr(library, "datetime", _FollowingDatetime)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    follow_clock(monkeypatch, fake)
    return fake


@pytest.fixture
def webhook_settings(app: Flask) -> Flask:
    """Let endpoints live on loopback over plain http, and keep timeouts short."""
    app.config.update(WEBHOOK_ALLOW_PRIVATE_TARGETS=True, WEBHOOK_TIMEOUT_SECONDS=1)
    return app


def add_endpoint(firm: Firm, receiver: Receiver, **kw: Any) -> WebhookEndpoint:
    """Register the receiver's URL for the firm and give the receiver its secret."""
    endpoint = endpoints.register_endpoint(firm, url=receiver.url, **kw)
    receiver.secrets.append(endpoint.secret)
    return endpoint


def ensure_posted(
    charge: Charge, *, before: ChargeStatus, to: ChargeStatus, **kw: Any
) -> OutboundMessage | None:
    """Queue the posting for a move unless payments.services already did (once it is wired)."""
    type_ = payment_postings.posting_type(before, to)
    existing = db.session.scalar(
        select(OutboundMessage)
        .where(OutboundMessage.charge_id == charge.id, OutboundMessage.type == type_)
        .order_by(OutboundMessage.id.desc())
        .limit(1)
    )
    if existing is not None and "source_ref" not in kw:
        return existing
    if existing is not None and kw.get("source_ref") and kw["source_ref"] in existing.payload:
        return existing
    return payment_postings.enqueue_for_transition(charge, before=before, to=to, **kw)


def deliver_all(worker_id: str = "test-worker") -> int:
    return worker.deliver_due(worker_id)
