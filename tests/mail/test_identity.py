"""The firm's emails, read from a real SMTP server on loopback: every one comes From
"<Firm> via <portal>" at MAIL_FROM's address, with Reply-To the firm's contact address, in one
layout (logo, colour, name, contact details); the link email says what is owed and by when, in
the firm's time zone."""

from __future__ import annotations

import datetime as dt
from email.utils import getaddresses, parseaddr

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from portal.billing.models import Client
from portal.firms import branding, identity
from portal.payments.checkout_forms import mandate_text
from portal.templating import locale_scope
from tests import factories
from tests.clocks import Clock, freeze
from tests.conftest import APIClient
from tests.mailbox import Inbox, parts
from tests.payments.conftest import Book, book, pay

__all__ = ["book"]  # the payments' fixture, used here

#: 11:30 pm on December 2, 2026 in New York.
AT = dt.datetime(2026, 12, 3, 4, 30, tzinfo=dt.UTC)
CONTACT = {
    "contact_email": "billing@okafor.example",
    "contact_phone": "+1 (212) 555-0100",
    "postal_address": "12 Court Street\nSuite 400\nBrooklyn, NY 11201",
    "website": "https://okafor.example",
}


@pytest.fixture
def late(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return freeze(monkeypatch, AT)


@pytest.fixture
def new_york(firm: factories.FirmWithKey, late: Clock) -> factories.FirmWithKey:
    """The firm in New York with every contact detail set."""
    firm.firm.time_zone = "America/New_York"
    for name, value in CONTACT.items():
        setattr(firm.firm, name, value)
    return firm


@pytest.fixture
def ada(new_york: factories.FirmWithKey) -> Client:
    return factories.client(
        new_york, external_id="C-ADA", name="Ada Mensah", email="ada@example.com", locale="en_US"
    )


def _send_link(api: APIClient) -> None:
    response = api.post("/api/v1/links", json={"client": "C-ADA", "send": {}})
    assert response.status_code == 201, response.get_json()


def _assert_identity(message, firm_name: str = "Okafor & Lindqvist LLP") -> None:
    assert getaddresses([message["From"]]) == [(f"{firm_name} via MatterPay", "no-reply@localhost")]
    assert parseaddr(message["Reply-To"]) == ("", "billing@okafor.example")
    text, html = parts(message)
    for part in (text, html):
        assert "12 Court Street" in part and "Brooklyn, NY 11201" in part
        assert "+1 (212) 555-0100" in part
        assert "billing@okafor.example" in part
        assert "https://okafor.example" in part
        assert "Sent by MatterPay for Okafor" in part
    assert '<a href="tel:+12125550100">' in html
    assert '<a href="mailto:billing@okafor.example">' in html
    assert "12 Court Street<br>Suite 400<br>" in html


def test_the_link_email_says_who_sends_it_what_is_owed_and_by_when(
    api: APIClient, ada: Client, smtp: Inbox
) -> None:
    # given two open invoices on two matters, the earlier due December 10
    first = factories.matter(ada)
    factories.invoice(first, total_minor=120_000, due_on=dt.date(2026, 12, 10))
    factories.invoice(factories.matter(ada), total_minor=30_050, due_on=dt.date(2026, 12, 24))
    factories.invoice(first, total_minor=99_900, balance_due_minor=0)  # paid: not owed

    # when the firm sends the link
    _send_link(api)

    # then it comes from the firm, via the portal, answers go to the firm, and its footer
    (message,) = smtp.messages
    _assert_identity(message)
    text, html = parts(message)
    for part in (text, html):
        assert "Open balance: $1,500.50, due by December 10, 2026." in part
        # the link lives 24 hours: until 11:30 pm tomorrow, New York time
        assert "December 3, 2026, 11:30\u202fPM EST" in part
        assert "has sent you a secure link" in part
    assert "You asked for" not in text


def test_an_overdue_balance_says_since_when(api: APIClient, ada: Client, smtp: Inbox) -> None:
    # December 2 is still today in New York at 11:30 pm: due, not overdue
    factories.invoice(factories.matter(ada), total_minor=10_000, due_on=dt.date(2026, 12, 1))
    _send_link(api)
    text, _html = parts(smtp.messages[0])
    assert "Open balance: $100.00, overdue since December 1, 2026." in text


def test_without_contact_details_there_is_no_reply_to_and_a_plain_footer(
    api: APIClient, firm: factories.FirmWithKey, smtp: Inbox
) -> None:
    factories.client(firm, external_id="C-ADA", name="Ada", email="ada@example.com")
    api.client.application.config["MAIL_FROM"] = "Acme Pay <pay@acme.example>"

    _send_link(api)

    (message,) = smtp.messages
    assert message["Reply-To"] is None
    assert getaddresses([message["From"]]) == [
        ("Okafor & Lindqvist LLP via Acme Pay", "pay@acme.example")
    ]
    text, html = parts(message)
    assert "Sent by Acme Pay for Okafor & Lindqvist LLP." in text
    assert "<address" not in html  # no contact details, no empty block
    assert "Open balance" not in text  # nothing owed, nothing said
    # no colour of its own: the portal's, with white text on it
    assert "background: #1f3a5f; color: #ffffff" in html


def test_a_pale_brand_colour_gets_dark_ink_and_the_logo_an_absolute_address(
    api: APIClient, new_york: factories.FirmWithKey, ada: Client, smtp: Inbox
) -> None:
    api.client.application.config["BASE_URL"] = "https://pay.example.com"
    new_york.firm.brand_colour = "#ffe066"
    new_york.firm.logo_digest = "abc123"

    _send_link(api)

    _text, html = parts(smtp.messages[0])
    assert "background: #ffe066; color: #000000" in html
    assert 'src="https://pay.example.com/brand/logo/' in html
    assert f'src="{branding.email_logo_url(new_york.firm)}"' in html


def test_the_trust_request_and_receipt_emails_share_the_identity(
    session: Session, new_york: factories.FirmWithKey, book: Book, smtp: Inbox
) -> None:
    # given a trust request emailed to the client
    factories.retainer(book.matter, send=True)
    # and a payment's receipt
    pay(book, invoices={book.old.id: 120_000})

    request_email, receipt = smtp.messages
    for message in (request_email, receipt):
        _assert_identity(message)
    text, html = parts(receipt)
    assert "Dec 2, 2026, 11:30\u202fPM EST" in text  # the firm's time, with its zone
    assert "Thank you for your payment." in html


def test_a_hostile_firm_name_stays_in_the_from_name(
    api: APIClient, new_york: factories.FirmWithKey, ada: Client, smtp: Inbox
) -> None:
    new_york.firm.name = 'Evil "LLP" <x@evil.example>\r\nBcc: thief@example.com'
    _send_link(api)
    (message,) = smtp.messages
    assert message["Bcc"] is None
    ((name, address),) = getaddresses([message["From"]])
    assert address == "no-reply@localhost"
    assert name.endswith("via MatterPay") and "\n" not in name


def test_the_ach_mandate_tells_how_to_reach_the_firm(
    app: Flask, new_york: factories.FirmWithKey
) -> None:
    with app.test_request_context(), locale_scope("en_US"):
        text = mandate_text(new_york.firm, 10_000, "USD", "en_US")
        new_york.firm.contact_phone = new_york.firm.contact_email = None
        plain = mandate_text(new_york.firm, 10_000, "USD", "en_US")
    assert (
        "by contacting Okafor & Lindqvist LLP (+1 (212) 555-0100, billing@okafor.example) "
        "before the debit is made." in text
    )
    assert "by contacting Okafor & Lindqvist LLP before the debit is made." in plain


@pytest.mark.parametrize(
    ("website", "link"),
    [("https://okafor.example/", "https://okafor.example/"), ("javascript:alert(1)", None)],
)
def test_only_web_addresses_become_links(website: str, link: str | None) -> None:
    assert identity.Contact(website=website).website_url == link
