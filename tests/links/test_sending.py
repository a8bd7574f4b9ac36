"""Send for payment: POST /api/v1/links with `send` emails the link through a real SMTP server on
loopback, and the link's deliveries go queued -> sent | failed -> opened -> paid."""

from __future__ import annotations

import datetime as dt
import json
import smtplib
from collections.abc import Callable
from email.utils import parseaddr

import pytest
from sqlalchemy import func, select

from portal import clock, mail
from portal.billing.models import Client
from portal.db import db
from portal.links import sending
from portal.links import services as links
from portal.links.models import Link
from portal.postings import endpoints
from portal.postings.models import OutboundMessage
from tests import factories
from tests.conftest import APIClient
from tests.mailbox import Inbox, free_port, link_url_in, parts
from tests.payments.conftest import Book, pay

AT = dt.datetime(2026, 3, 16, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    monkeypatch.setattr(clock, "now", lambda: AT)
    return AT


@pytest.fixture
def ada(firm: factories.FirmWithKey) -> Client:
    firm.firm.brand_colour = "#0b5394"
    return factories.client(
        firm, external_id="C-ADA", name="Ada Mensah", email="ada@example.com", locale="en_US"
    )


def send_link(api: APIClient, send: dict | None = None, **body: object) -> dict:
    payload = {"client": "C-ADA", "send": {} if send is None else send, **body}
    response = api.post("/api/v1/links", json=payload)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_send_emails_a_branded_link_in_text_and_html(
    api: APIClient, firm: factories.FirmWithKey, ada: Client, smtp: Inbox, frozen: dt.datetime
) -> None:
    # given the firm's default message and signature
    api.client.application.config["BASE_URL"] = "https://pay.example.com"
    assert (
        api.client.patch(
            "/api/v1/firm",
            json={
                "email_message": "Your March statement is ready.",
                "email_signature": "Okafor & Lindqvist\n+1 555 0100",
            },
            headers={"Authorization": f"Bearer {api.key}"},
        ).status_code
        == 200
    )

    # when
    body = send_link(api)

    # then one email went to the client's address on file
    (message,) = smtp.messages
    assert parseaddr(message["To"])[1] == "ada@example.com"
    assert message["Subject"] == "Okafor & Lindqvist LLP: your secure payment link"
    text, html = parts(message)
    assert link_url_in(message) == body["url"]
    for part in (text, html):
        assert "Hello Ada Mensah," in part
        assert "Your March statement is ready." in part
        assert "+1 555 0100" in part
        # expiry: 24 h later, in the firm's zone (none set: the default, UTC)
        assert "March 17, 2026" in part and "3:00\u202fPM UTC" in part
        assert "https://pay.example.com/check" in part
    assert body["url"] in html
    assert "background: #0b5394" in html  # the firm's colour on the button
    assert "&amp; Lindqvist" in html  # HTML-escaped

    # and the delivery is recorded as sent
    (delivery,) = body["deliveries"]
    assert delivery["state"] == "sent"
    assert delivery["origin"] == "api"
    assert delivery["to"] == "ada@example.com"
    assert delivery["error"] is None
    assert dt.datetime.fromisoformat(delivery["sent_at"]) == frozen
    shown = api.get(f"/api/v1/links/{body['id']}").get_json()
    assert shown["deliveries"] == body["deliveries"]


def test_send_message_and_address_override_the_defaults(
    api: APIClient, firm: factories.FirmWithKey, ada: Client, smtp: Inbox
) -> None:
    firm.firm.email_message = "Default words."

    body = send_link(api, {"email": "billing@ada.example", "message": "Only  this\nmonth."})

    (message,) = smtp.messages
    assert parseaddr(message["To"])[1] == "billing@ada.example"
    text, html = parts(message)
    assert "Only  this\nmonth." in text
    assert "Only  this<br>month." in html
    assert "Default words." not in text
    assert "Okafor & Lindqvist LLP" in text  # no signature set: the firm's name closes it
    assert body["deliveries"][0]["to"] == "billing@ada.example"


def test_without_defaults_a_built_in_sentence_is_used(
    api: APIClient, ada: Client, smtp: Inbox
) -> None:
    send_link(api)
    text, _html = parts(smtp.messages[0])
    assert "Okafor & Lindqvist LLP has sent you a secure link" in text


def test_the_email_is_in_the_clients_locale(
    api: APIClient, ada: Client, smtp: Inbox, frozen: dt.datetime
) -> None:
    ada.locale = "es-MX"  # no Mexican catalog: the closest supported locale, es_US
    send_link(api)
    _text, html = parts(smtp.messages[0])
    assert '<html lang="es-US">' in html
    assert "17 de marzo de 2026" in html


def test_html_in_the_firms_words_is_escaped(api: APIClient, ada: Client, smtp: Inbox) -> None:
    send_link(api, {"message": "<script>alert(1)</script>"})
    text, html = parts(smtp.messages[0])
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<script>alert(1)</script>" in text  # plain text carries it as typed


def test_without_send_nothing_is_emailed(api: APIClient, ada: Client, smtp: Inbox) -> None:
    body = api.post("/api/v1/links", json={"client": "C-ADA"}).get_json()
    assert smtp.messages == []
    assert body["deliveries"] == []


@pytest.mark.parametrize(
    ("send", "pointer"),
    [
        ({"email": "not-an-address"}, "/send/email"),
        ({"message": ""}, "/send/message"),
        ({"message": "x" * 2001}, "/send/message"),
        ({"ar_note_typo": "x"}, "/send/ar_note_typo"),
        ("yes", "/send"),
    ],
)
def test_bad_send_fields_are_422(
    api: APIClient, ada: Client, smtp: Inbox, send: object, pointer: str
) -> None:
    response = api.post("/api/v1/links", json={"client": "C-ADA", "send": send})
    assert response.status_code == 422
    assert pointer in [error["pointer"] for error in response.get_json()["errors"]]
    assert smtp.messages == []


def test_a_client_without_email_needs_an_address(
    api: APIClient, firm: factories.FirmWithKey, smtp: Inbox
) -> None:
    factories.client(firm, external_id="C-NOMAIL", email=None)

    response = api.post("/api/v1/links", json={"client": "C-NOMAIL", "send": {}})

    assert response.status_code == 422
    assert response.get_json()["errors"][0]["pointer"] == "/send/email"
    assert smtp.messages == []
    # and no link was issued for a send that could not happen
    assert db.session.scalar(select(func.count(Link.id))) == 0


def test_a_refused_email_is_failed_with_the_servers_words_and_a_posting(
    api: APIClient, firm: factories.FirmWithKey, ada: Client, refusing_smtp: Inbox
) -> None:
    # given an endpoint that wants link events
    api.client.application.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = True
    endpoint = endpoints.register_endpoint(
        firm.firm, url="http://127.0.0.1:9/hooks", event_types=["link.delivery_failed"]
    )
    api.client.application.config["MAIL_PASSWORD"] = "smtp-secret-password"

    # when
    response = api.post("/api/v1/links", json={"client": "C-ADA", "send": {}})

    # then the link exists and works, and its delivery failed with the server's reply
    assert response.status_code == 201
    body = response.get_json()
    (delivery,) = body["deliveries"]
    assert delivery["state"] == "failed"
    assert delivery["error"].startswith("recipient refused: 550 5.1.1")
    assert "mailbox unavailable" in delivery["error"]
    assert delivery["failed_at"] is not None and delivery["sent_at"] is None
    assert body["state"] == "active"
    assert refusing_smtp.messages == []

    # and a link.delivery_failed message is queued for the firm's endpoint
    message = db.session.scalar(
        select(OutboundMessage).where(OutboundMessage.type == "link.delivery_failed")
    )
    assert message is not None
    assert message.firm_id == firm.firm.id
    data = json.loads(message.payload)["data"]
    assert data["link_id"] == body["id"]
    assert data["delivery_id"] == delivery["id"]
    assert data["client"] == {"external_id": "C-ADA"}
    assert data["email"] == "ada@example.com"
    assert data["error"] == delivery["error"]
    assert "smtp-secret-password" not in message.payload
    assert [d.endpoint_id for d in message.deliveries] == [endpoint.id]


def test_an_unreachable_mail_server_keeps_the_email_until_it_answers(
    api: APIClient,
    ada: Client,
    smtp: Inbox,
    deliver_email: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a mail server that is down while the link is sent
    config = api.client.application.config
    port = config["MAIL_PORT"]
    config["MAIL_PORT"] = free_port()

    body = send_link(api)

    # then the link is issued and its email waits in the outbox, with the error kept
    (delivery,) = body["deliveries"]
    assert delivery["state"] == "queued"
    email = mail.latest_for(sending.MAIL_KIND, delivery["id"])
    assert email is not None
    assert email.last_error == "ConnectionRefusedError: Connection refused"
    assert smtp.messages == []

    # when the server is back and the retry is due
    config["MAIL_PORT"] = port
    later = clock.now() + dt.timedelta(days=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert deliver_email() == 1

    # then the email arrives once and the delivery says so
    assert len(smtp.messages) == 1
    (delivery,) = api.get(f"/api/v1/links/{body['id']}").get_json()["deliveries"]
    assert delivery["state"] == "sent"


def test_opening_the_link_marks_the_delivery_opened(
    api: APIClient, ada: Client, smtp: Inbox
) -> None:
    body = send_link(api)
    links.open_link(body["url"].rsplit("/", 1)[1])

    (delivery,) = api.get(f"/api/v1/links/{body['id']}").get_json()["deliveries"]
    assert delivery["state"] == "opened"
    assert delivery["opened_at"] is not None


def test_a_failed_delivery_still_shows_the_opening(
    api: APIClient, ada: Client, refusing_smtp: Inbox
) -> None:
    # the firm passed the URL on another way, and the client opened it
    body = send_link(api)
    links.open_link(body["url"].rsplit("/", 1)[1])

    (delivery,) = api.get(f"/api/v1/links/{body['id']}").get_json()["deliveries"]
    assert delivery["state"] == "opened"
    assert delivery["error"] is not None  # what the server said is kept


def test_a_succeeded_payment_from_the_link_marks_it_paid(
    api: APIClient, firm: factories.FirmWithKey, ada: Client, smtp: Inbox
) -> None:
    # given a link emailed for a client with an open invoice
    matter = factories.matter(ada)
    invoice = factories.invoice(matter, total_minor=50_000)
    body = send_link(api)
    link = links.open_link(body["url"].rsplit("/", 1)[1])

    # when the client pays from it
    book = Book(ada, matter, matter, invoice, invoice, link)
    pay(book, invoices={invoice.id: 50_000})

    # then
    (delivery,) = api.get(f"/api/v1/links/{body['id']}").get_json()["deliveries"]
    assert delivery["state"] == "paid"
    assert delivery["paid_at"] is not None
    assert delivery["opened_at"] is not None


def test_a_declined_payment_does_not_mark_it_paid(
    api: APIClient, firm: factories.FirmWithKey, ada: Client, smtp: Inbox
) -> None:
    from tests.payments.conftest import DECLINED

    matter = factories.matter(ada)
    invoice = factories.invoice(matter, total_minor=50_000)
    body = send_link(api)
    link = links.open_link(body["url"].rsplit("/", 1)[1])

    pay(
        Book(ada, matter, matter, invoice, invoice, link),
        invoices={invoice.id: 50_000},
        instrument=DECLINED,
    )

    (delivery,) = api.get(f"/api/v1/links/{body['id']}").get_json()["deliveries"]
    assert delivery["state"] == "opened"
    assert delivery["paid_at"] is None


def test_another_firms_link_and_deliveries_are_not_found(
    api: APIClient, other_api: APIClient, ada: Client, smtp: Inbox
) -> None:
    body = send_link(api)
    assert other_api.get(f"/api/v1/links/{body['id']}").status_code == 404


@pytest.mark.parametrize("event_types", [["link.delivery_failed"], ["link.*"]])
def test_endpoints_may_subscribe_to_link_events(api: APIClient, event_types: list[str]) -> None:
    api.client.application.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = True
    response = api.post(
        "/api/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/hooks", "event_types": event_types},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["event_types"] == event_types


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid"),
            "535 5.7.8 Authentication credentials invalid",
        ),
        (
            smtplib.SMTPSenderRefused(553, b"5.7.1 Sender not allowed", "no-reply@localhost"),
            "553 5.7.1 Sender not allowed",
        ),
        (
            smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"5.1.1 No such user")}),
            "recipient refused: 550 5.1.1 No such user",
        ),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), None),
        (TimeoutError("timed out"), "TimeoutError: timed out"),
    ],
)
def test_smtp_errors_are_kept_in_the_servers_words(error: Exception, text: str | None) -> None:
    expected = text or f"SMTPServerDisconnected: {error}"
    assert sending.smtp_error_text(error) == expected


def test_a_firm_with_a_logo_shows_it_at_the_top_of_its_emails(
    api: APIClient, firm: factories.FirmWithKey, ada: Client, smtp: Inbox
) -> None:
    import io

    from PIL import Image

    # given a firm that uploaded its logo
    api.client.application.config["BASE_URL"] = "https://pay.example.com"
    png = io.BytesIO()
    Image.new("RGB", (120, 40), (11, 83, 148)).save(png, format="PNG")
    uploaded = api.client.put(
        "/api/v1/firm/logo",
        data=png.getvalue(),
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "image/png"},
    )
    assert uploaded.status_code == 200, uploaded.get_json()
    digest = uploaded.get_json()["logo_url"].rsplit("/", 1)[1]
    # when a link is emailed
    send_link(api)
    # then the HTML part opens with the logo, on the public address, named by its digest
    (message,) = smtp.messages
    _text, html = parts(message)
    logo = f"https://pay.example.com/brand/logo/{firm.firm.slug}/{digest}"
    assert f'<img src="{logo}" alt="Okafor &amp; Lindqvist LLP"' in html
    # and the address serves the image itself
    served = api.client.get(logo.removeprefix("https://pay.example.com"))
    assert served.status_code == 200
    assert served.data == png.getvalue()
