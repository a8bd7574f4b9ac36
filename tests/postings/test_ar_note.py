"""The A/R note: set on a link by the firm, copied to each payment made through it, carried in
the payment's postings after the firm's A/R message, and never shown to the client."""

from __future__ import annotations

import pytest

from portal.billing.models import Client
from portal.links import services as links
from portal.payments.receipts import receipt_for
from tests.api.conftest import a_client, pointers  # noqa: F401 (a_client is a fixture)
from tests.conftest import APIClient
from tests.payments.conftest import Book, pay
from tests.payments.test_receipts import _parts, smtp  # noqa: F401 (smtp is a fixture)
from tests.postings.conftest import Clock, Receiver, add_endpoint, deliver_all

NOTE = "Retainer top-up, matter 2024-17"


@pytest.mark.usefixtures("webhook_settings")
def test_the_links_note_reaches_the_posting_and_never_the_client(
    session,
    firm,
    book: Book,
    receiver: Receiver,
    clock: Clock,
    smtp,  # noqa: F811
) -> None:
    # given a link carrying the firm's note, and an endpoint
    book.link.ar_note = NOTE
    add_endpoint(firm.firm, receiver)
    # when the client pays through it
    payment = pay(book, invoices={book.old.id: 120_000})
    # then the payment keeps the note, whatever happens to the link later
    assert payment.ar_note == NOTE
    book.link.ar_note = "changed later"
    assert payment.ar_note == NOTE
    # and the posting carries the firm's A/R message followed by it
    assert deliver_all() == 1
    (posting,) = receiver.received
    assert posting.payload is not None
    assert posting.payload["data"]["ar_message"] == f"Portal payment - {NOTE}"
    # while the receipt (page and email) never shows it
    assert NOTE not in repr(receipt_for(payment))
    (message,) = smtp.messages
    for part in (message["Subject"], *_parts(message)):
        assert NOTE not in part


@pytest.mark.usefixtures("webhook_settings")
def test_without_a_note_the_posting_has_the_firms_message_alone(
    session, firm, book: Book, receiver: Receiver, clock: Clock
) -> None:
    firm.firm.ar_message = "Online payment"
    add_endpoint(firm.firm, receiver)
    payment = pay(book, invoices={book.old.id: 120_000})
    assert payment.ar_note is None
    deliver_all()
    (posting,) = receiver.received
    assert posting.payload is not None
    assert posting.payload["data"]["ar_message"] == "Online payment"


def test_the_api_sets_a_links_note(api: APIClient, a_client: Client) -> None:  # noqa: F811
    response = api.post("/api/v1/links", json={"client": "C-1", "ar_note": f"  {NOTE}  "})
    assert response.status_code == 201
    link = links.link_for_firm(a_client.firm_id, response.get_json()["id"])
    assert link.ar_note == NOTE
    plain = api.post("/api/v1/links", json={"client": "C-1"}).get_json()
    assert links.link_for_firm(a_client.firm_id, plain["id"]).ar_note is None


def test_an_overlong_note_is_422(api: APIClient, a_client: Client) -> None:  # noqa: F811
    response = api.post("/api/v1/links", json={"client": "C-1", "ar_note": "x" * 201})
    assert response.status_code == 422
    assert pointers(response) == ["/ar_note"]
