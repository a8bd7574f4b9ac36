"""A firm's name that somehow holds a line break (written straight into the database, before
the API refused one) must not break email or payment recording: the subject carrying it goes
out on one line, nothing it holds becomes a header, and the payment, the receipt, a link, a
trust request and the banks' settlement all go through."""

from __future__ import annotations

import re
from email.header import decode_header, make_header

import pytest
from flask import Flask
from sqlalchemy import update

from portal import mail
from portal.firms.models import Firm
from portal.payments.models import PaymentMethod, payment_status
from tests import factories
from tests.conftest import APIClient
from tests.mailbox import Inbox
from tests.payments.conftest import ACH_OK, Book, pay

HOSTILE = "Morales LLP\r\nBcc: thief@example.com\u2028X-Evil: 1\x85\x00end"


@pytest.fixture
def hostile(session, firm: factories.FirmWithKey) -> str:
    session.execute(update(Firm).where(Firm.id == firm.id).values(name=HOSTILE.replace("\x00", "")))
    session.commit()
    session.expire_all()
    return HOSTILE


def _subject(message) -> str:
    unfolded = re.sub(r"\r?\n[ \t]", " ", message["Subject"])
    return str(make_header(decode_header(unfolded)))


def _assert_clean(inbox: Inbox, to: str) -> None:
    assert inbox.messages, "no email went out"
    for message in inbox.messages:
        assert message["Bcc"] is None and message["X-Evil"] is None
        assert message["To"] == to
        subject = _subject(message)
        assert "\n" not in subject and "\r" not in subject and "\u2028" not in subject
        assert "Morales LLP" in subject or "Morales LLP" in message.get_payload(0).get_content()


def test_compose_keeps_every_header_on_its_line(app: Flask) -> None:
    with app.app_context():
        message = mail.compose(
            to="ada@example.com\r\nBcc: thief@example.com",
            subject=f"Receipt from {HOSTILE}",
            text="Hello \ud800",
        )
        wire = mail.wire_bytes(message)

    assert b"\nBcc:" not in wire and b"\nX-Evil:" not in wire
    assert message["Subject"] == "Receipt from Morales LLP Bcc: thief@example.com X-Evil: 1 end"
    assert mail.envelope_recipients(message) == ["ada@example.com"]


def test_a_card_payment_is_recorded_and_its_receipt_sent(
    session, book: Book, hostile: str, smtp: Inbox
) -> None:
    # when
    payment = pay(book, invoices={book.old.id: 120_000})

    # then
    assert payment_status(payment) == "succeeded"
    (message,) = smtp.messages
    _assert_clean(smtp, "ada@example.com")
    assert "Receipt" in _subject(message)


def test_ach_settlement_goes_on_for_every_firm(
    app: Flask, session, book: Book, hostile: str, smtp: Inbox
) -> None:
    # given: an ACH debit of the hostile firm, processing
    payment = pay(book, invoices={book.new.id: 80_000}, method=PaymentMethod.ACH, instrument=ACH_OK)

    # when: the banks settle, as the sandbox-settle command plays them
    result = app.test_cli_runner().invoke(args=["sandbox-settle", "--after", "0"])

    # then
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert payment_status(payment) == "succeeded"
    assert len(smtp.messages) == 2
    _assert_clean(smtp, "ada@example.com")


def test_a_link_is_sent(
    api: APIClient, firm: factories.FirmWithKey, hostile: str, smtp: Inbox
) -> None:
    # given
    factories.client(firm, external_id="C-1", email="ana@example.com")

    # when
    response = api.post("/api/v1/links", json={"client": "C-1", "send": {}})

    # then
    assert response.status_code == 201, response.get_data(as_text=True)
    (delivery,) = response.get_json()["deliveries"]
    assert delivery["state"] == "sent"
    _assert_clean(smtp, "ana@example.com")


def test_a_trust_request_is_sent(
    api: APIClient, firm: factories.FirmWithKey, hostile: str, smtp: Inbox
) -> None:
    # given
    person = factories.client(firm, external_id="C-1", email="ana@example.com")
    factories.matter(person, external_id="M-1")
    body = {"matter": "M-1", "amount": 50_000, "currency": "USD", "kind": "retainer"}

    # when
    response = api.post("/api/v1/trust-requests", json={**body, "send": True})

    # then
    assert response.status_code == 201, response.get_data(as_text=True)
    _assert_clean(smtp, "ana@example.com")
