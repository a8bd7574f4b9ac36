"""Trust request fixtures: a client with a matter short in trust, and a real SMTP inbox."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from portal.billing.models import Client, Matter
from portal.trust_requests.models import TrustRequest, TrustRequestKind
from portal.trust_requests.services import NewRequest, create_request
from tests import factories


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp(app) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    try:
        yield inbox
    finally:
        controller.stop()


def parts(message: Message) -> tuple[str, str]:
    """The text and HTML bodies of a message."""
    text = html = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True).decode()
        elif part.get_content_type() == "text/html":
            html = part.get_payload(decode=True).decode()
    return text, html


@pytest.fixture
def person(firm: factories.FirmWithKey) -> Client:
    return factories.client(firm, external_id="C-1", name="Ada Client", email="ada@example.com")


@pytest.fixture
def matter(person: Client) -> Matter:
    """Held 2,000.00 in trust against a 5,000.00 minimum."""
    matter = factories.matter(
        person,
        external_id="M-1",
        number="2026-001",
        title="Client v. Northside",
        trust_minimum_minor=500_000,
    )
    factories.trust_entry(matter, 200_000, description="Retainer")
    return matter


def request_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "matter": "M-1",
        "amount": 250_000,
        "currency": "USD",
        "kind": "retainer",
        "due_on": "2030-01-31",
        "memo": "Retainer for the trial phase",
    }
    body.update(changes)
    return body


def make_request(matter: Matter, amount_minor: int = 250_000, **kw: Any) -> TrustRequest:
    new = NewRequest(
        matter=matter.external_id,
        amount_minor=amount_minor,
        currency=matter.currency,
        kind=kw.pop("kind", TrustRequestKind.RETAINER),
        due_on=kw.pop("due_on", None),
        memo=kw.pop("memo", "Trial retainer"),
    )
    request, _ = create_request(firm_id=matter.firm_id, new=new, **kw)
    return request


# The pay flow's browser and books, shared with the payment view tests.
from tests.payments.test_views import books, browser  # noqa: E402, F401
