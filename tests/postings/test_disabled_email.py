"""The email telling a firm one of its endpoints was disabled: rendered from
templates/email/endpoint_disabled (text and HTML), sent through a real SMTP server only once
the disabling commits."""

from __future__ import annotations

import pytest

from portal.db import db
from portal.postings import endpoints
from tests.mailbox import parts
from tests.postings.conftest import Clock, Receiver, Reply, add_endpoint, deliver_all

pytestmark = pytest.mark.usefixtures("webhook_settings")


def test_a_410_emails_the_firm_in_text_and_html(
    session,
    firm,
    receiver: Receiver,
    clock: Clock,
    smtp,
) -> None:
    # given an endpoint whose receiver is gone for good
    firm.firm.notify_email = "accounts@okafor.example"
    endpoint = add_endpoint(firm.firm, receiver)
    endpoints.send_ping(endpoint)
    receiver.script = [Reply(410)]
    # when the worker meets the 410
    deliver_all()
    # then the firm got one email, in both forms, saying which endpoint, why, and what next
    (message,) = smtp.messages
    assert message["To"] == "accounts@okafor.example"
    assert message["Subject"] == "MatterPay stopped sending webhooks to one of your endpoints"
    text, html = parts(message)
    for body in (text, html):
        assert endpoint.public_id in body
        assert receiver.url in body
        assert "The receiver answered 410 Gone." in body
        assert "re-enable the endpoint" in body
    assert "Okafor & Lindqvist LLP" in text
    assert "Okafor &amp; Lindqvist LLP" in html
    assert html.lstrip().startswith("<!doctype html>")
    assert "Webhook endpoint disabled" in html


def test_markup_in_the_url_is_escaped_in_the_html(
    session,
    firm,
    receiver: Receiver,
    clock: Clock,
    smtp,
) -> None:
    firm.firm.notify_email = "accounts@okafor.example"
    endpoint = add_endpoint(firm.firm, receiver)
    endpoint.url = receiver.url + "?a=1&b=<i>2</i>"
    db.session.flush()
    endpoints.disable_endpoint(endpoint, reason="Paused for <b>testing</b>.")
    db.session.commit()
    (message,) = smtp.messages
    text, html = parts(message)
    assert "?a=1&b=<i>2</i>" in text
    assert "<i>" not in html and "<b>" not in html
    assert "&lt;i&gt;2&lt;/i&gt;" in html
    assert "&lt;b&gt;testing&lt;/b&gt;" in html


def test_no_email_without_a_notification_address(
    session,
    firm,
    receiver: Receiver,
    clock: Clock,
    smtp,
) -> None:
    endpoint = add_endpoint(firm.firm, receiver)
    endpoints.disable_endpoint(endpoint, reason="Gone.")
    db.session.commit()
    assert smtp.messages == []
