"""`send: true` emails the client a 24-hour link to the request, in their language, through a
real SMTP server on loopback; the link opens the matter with the request on it."""

from __future__ import annotations

import re

from portal.db import db
from tests.pages.conftest import BASE_URL
from tests.trust_requests.conftest import parts, request_body


def test_send_emails_a_link_with_the_amount_due_date_and_memo(api, client, matter, smtp) -> None:
    answer = api.post("/api/v1/trust-requests", json=request_body(send=True))
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["emailed_at"] is not None

    (message,) = smtp.messages
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Okafor & Lindqvist LLP asks you for a trust deposit"
    text, html = parts(message)
    for part in (text, html):
        assert "Hello Ada Client," in part
        assert "$2,500.00" in part
        assert "2026-001" in part and "Client v. Northside" in part
        assert "Retainer for the trial phase" in part
        assert "Jan 31, 2030" in part
        assert body["id"] in part
        assert "24 hours" in part
    assert "Pay this request" in html

    # the link in the email opens the matter, where the request is waiting
    url = re.search(r"(http\S+/l/[A-Za-z0-9._-]+)", text).group(1)
    token = url.rsplit("/l/", 1)[1]
    opened = client.get(f"/l/{token}", base_url=BASE_URL)
    assert opened.status_code == 303
    page = client.get(opened.headers["Location"].removeprefix(BASE_URL), base_url=BASE_URL)
    assert page.status_code == 200
    assert "Pay this request" in page.text and "$2,500.00" in page.text


def test_the_email_is_in_the_clients_language(api, person, matter, smtp) -> None:
    person.locale = "es_US"
    db.session.flush()
    assert api.post("/api/v1/trust-requests", json=request_body(send=True)).status_code == 201
    (message,) = smtp.messages
    text, _ = parts(message)
    # Dates follow the client's locale (the wording follows once the Spanish catalog lands).
    assert "31 ene 2030" in text
    assert "Jan 31, 2030" not in text


def test_without_send_nothing_is_emailed_and_a_replay_does_not_email_again(
    api, matter, smtp
) -> None:
    assert api.post("/api/v1/trust-requests", json=request_body()).status_code == 201
    assert smtp.messages == []
    headers = {"Idempotency-Key": "send-once"}
    api.post("/api/v1/trust-requests", json=request_body(send=True), headers=headers)
    api.post("/api/v1/trust-requests", json=request_body(send=True), headers=headers)
    assert len(smtp.messages) == 1


def test_resend_and_its_refusals(api, person, matter, smtp) -> None:
    made = api.post("/api/v1/trust-requests", json=request_body()).get_json()
    sent = api.post(f"/api/v1/trust-requests/{made['id']}/send")
    assert sent.status_code == 200
    assert sent.get_json()["emailed_at"] is not None
    assert len(smtp.messages) == 1

    person.email = None
    db.session.flush()
    no_address = api.post(f"/api/v1/trust-requests/{made['id']}/send")
    assert no_address.status_code == 409
    assert "no email address" in no_address.get_json()["detail"]

    api.post(f"/api/v1/trust-requests/{made['id']}/cancel")
    canceled = api.post(f"/api/v1/trust-requests/{made['id']}/send")
    assert canceled.status_code == 409
    assert len(smtp.messages) == 1


def test_the_receipt_names_the_request_it_paid(api, matter, smtp) -> None:
    from tests.trust_requests.conftest import make_request
    from tests.trust_requests.test_payments import pay

    request = make_request(matter, 150_000, memo="Retainer for the trial phase")
    pay(matter, requests={request.id: 150_000})
    (receipt,) = smtp.messages
    text, html = parts(receipt)
    for body in (text, html):
        assert "trust request: Retainer for the trial phase" in body
        assert "$1,500.00" in body
