"""A staff notification as it reaches a mail server (the real loopback SMTP server): what
happened, the amount, client, matter and payment number, a link to the payment's console page
and to the choices; nothing about the card."""

from __future__ import annotations

from portal.payments.models import ChargeStatus
from tests.mailbox import Inbox, parts
from tests.notifications.conftest import Staff
from tests.payments.conftest import DECLINED, Book, pay


def test_a_failed_payment_reaches_the_admins_inbox(book: Book, staff: Staff, smtp: Inbox) -> None:
    payment = pay(book, invoices={book.new.id: 80_000}, instrument=DECLINED)
    (charge,) = payment.charges
    assert charge.status is ChargeStatus.FAILED
    mine = [m for m in smtp.messages if m["To"] == "ada@okafor.example"]
    (message,) = [m for m in mine if "failed" in str(m["Subject"])]
    assert message["Subject"] == f"A payment failed ({payment.number})"
    assert "Okafor & Lindqvist LLP via" in str(message["From"])
    text, html = parts(message)
    for body in (text, html):
        assert "$800.00" in body
        assert payment.number in body
        assert book.client.name in body
        assert book.matter.number in body
        assert f"/console/payments/{payment.public_id}" in body
        assert "/console/notifications" in body
        assert "4000000000000002" not in body
        assert charge.instrument_brand
        assert charge.instrument_brand.lower() not in body.lower()
    assert "Okafor &amp; Lindqvist LLP" in html
