"""Receipts people can read and keep: the payment number, local time with its zone, figures by
status, the receipt and statement PDFs (read back as text), the refund email, and the payment
history within a link's scope."""

from __future__ import annotations

import datetime as dt
import re
from email.message import Message

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from portal.links import services as links
from portal.links.models import Link
from portal.payments import numbers
from portal.payments.models import Payment
from portal.payments.receipts import receipt_for
from tests import factories
from tests.mailbox import parts
from tests.payments.conftest import DECLINED, Book, pay, refund_all
from tests.pdfs import pdf_text

BASE_URL = "https://localhost"
NUMBER = re.compile(r"^P-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}$")
#: 03:39 UTC on 2 December is 10:39 PM on 1 December in New York (EST).
PAID_AT = dt.datetime(2026, 12, 2, 3, 39, 55, tzinfo=dt.UTC)


def open_link(client: FlaskClient, link: Link) -> None:
    answer = client.get(f"/l/{links.token_for(link)}", base_url=BASE_URL)
    assert answer.status_code == 303


def get(client: FlaskClient, path: str) -> TestResponse:
    return client.get(path, base_url=BASE_URL)


def attachment(message: Message) -> tuple[str, bytes]:
    (part,) = [p for p in message.walk() if p.get_content_type() == "application/pdf"]
    return part.get_filename() or "", part.get_payload(decode=True)


@pytest.fixture
def new_york(firm, session) -> None:
    firm.firm.time_zone = "America/New_York"
    session.flush()


def _at(payment: Payment, session) -> Payment:
    payment.created_at = PAID_AT
    session.flush()
    return payment


# -- the payment number -------------------------------------------------------------------------


def test_each_payment_gets_a_short_readable_number(session, book: Book) -> None:
    first = pay(book, invoices={book.old.id: 20_000})
    second = pay(book, invoices={book.old.id: 20_000})
    assert NUMBER.match(first.number) and NUMBER.match(second.number)
    assert first.number != second.number


def test_a_number_the_firm_already_has_is_drawn_again(
    session, book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a payment, and a draw that first repeats its number
    taken = pay(book, invoices={book.old.id: 20_000}).number
    draws = iter([taken, "P-2345-6789"])
    monkeypatch.setattr(numbers, "new_payment_number", lambda: next(draws))
    # when the next payment is recorded
    payment = pay(book, invoices={book.old.id: 20_000})
    # then the collision was caught by the constraint and a new number drawn
    assert payment.number == "P-2345-6789"
    assert payment.charges[0].status.value == "succeeded"


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("P-7K3Q-9M2X", "P-7K3Q-9M2X"),
        ("p 7k3q 9m2x", "P-7K3Q-9M2X"),
        ("7K3Q9M2X", "P-7K3Q-9M2X"),
        ("P-7K3Q-9M2", None),
        ("P-0K3Q-9M2X", None),  # 0 is never drawn: it reads as O
        ("", None),
    ],
)
def test_a_typed_number_is_read_as_stored(typed: str, read: str | None) -> None:
    assert numbers.read_payment_number(typed) == read


def test_the_api_shows_the_number_and_finds_a_payment_by_it(session, book: Book, api) -> None:
    payment = pay(book, invoices={book.old.id: 20_000})
    pay(book, invoices={book.old.id: 20_000})
    answer = api.get(f"/api/v1/payments/{payment.public_id}")
    assert answer.json["number"] == payment.number
    typed = payment.number.lower().replace("-", " ")
    found = api.get(f"/api/v1/payments?number={typed}").json["data"]
    assert [item["id"] for item in found] == [payment.public_id]
    refused = api.get("/api/v1/payments?number=nonsense")
    assert refused.status_code == 422


# -- the receipt page ----------------------------------------------------------------------------


def test_the_receipt_shows_the_number_first_local_time_and_what_is_still_owed(
    session, book: Book, client: FlaskClient, smtp, new_york
) -> None:
    payment = _at(pay(book, invoices={book.old.id: 20_000}, trust={book.matter.id: 5_000}), session)
    open_link(client, book.link)
    page = get(client, f"/payments/{payment.public_id}").get_data(as_text=True)
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert f"Payment number {payment.number} , Dec 1, 2026, 10:39 PM EST" in text
    assert text.index(payment.number) < text.index("Processor reference")
    assert "Reference:" not in text and payment.public_id not in text.replace(
        f"/payments/{payment.public_id}", ""
    )
    assert "Thank you: your payment is complete" in text
    assert "Paid by Visa •••• 4242" in text
    assert "A copy was emailed to ada@example.com." in text
    assert "Still owed on it: $1,000.00" in text  # INV-OLD: $1,200.00 less $200.00
    assert "Download the PDF" in text


def test_a_declined_receipt_says_nothing_was_paid_by_anything(
    session, book: Book, client: FlaskClient
) -> None:
    payment = pay(book, invoices={book.old.id: 20_000}, instrument=DECLINED)
    open_link(client, book.link)
    page = get(client, f"/payments/{payment.public_id}").get_data(as_text=True)
    assert "Your payment did not go through" in page
    assert "Paid by" not in page
    assert "A copy was emailed" not in page


def test_a_refund_changes_the_heading_and_figures_and_sends_an_email(
    session, book: Book, client: FlaskClient, smtp
) -> None:
    payment = pay(book, invoices={book.old.id: 20_000})
    refund_all(book, payment, "refund-1")
    _receipt, refund_email = smtp.messages
    assert "refunded $200.00 of your payment " + payment.number in refund_email["Subject"]
    text, html = parts(refund_email)
    for body in (text, html):
        assert "$200.00 of your payment was refunded" in body
        assert payment.number in body
    assert pdf_text(attachment(refund_email)[1]).count("Refunded") >= 1
    open_link(client, book.link)
    page = get(client, f"/payments/{payment.public_id}").get_data(as_text=True)
    assert "This payment was refunded" in page
    assert "Paid by" not in page
    assert receipt_for(payment).refunded_minor == 20_000


# -- PDFs ----------------------------------------------------------------------------------------


def test_the_receipt_email_carries_the_pdf(session, book: Book, smtp, new_york) -> None:
    payment = pay(book, invoices={book.old.id: 20_000})
    (message,) = smtp.messages
    filename, body = attachment(message)
    assert filename == f"receipt-{payment.number}.pdf"
    text = pdf_text(body)
    assert payment.number in text
    assert "$200.00" in text and "INV-OLD" in text and "EST" in text


def test_the_receipt_pdf_download(session, book: Book, client: FlaskClient, smtp, new_york) -> None:
    book.client.name = "Zoë Łukasiewicz-Ωmega"
    payment = _at(pay(book, invoices={book.old.id: 20_000}), session)
    payment.payer_name = book.client.name
    session.flush()
    open_link(client, book.link)
    answer = get(client, f"/payments/{payment.public_id}/receipt.pdf")
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    assert f'filename="receipt-{payment.number}.pdf"' in answer.headers["Content-Disposition"]
    assert "no-store" in answer.headers["Cache-Control"]
    text = pdf_text(answer.get_data())
    assert text.index(payment.number) < text.index("Amount")
    assert "Dec 1, 2026, 10:39" in text and "EST" in text
    assert "$200.00" in text and "$1,000.00" in text  # paid, and still owed
    assert "Zoë Łukasiewicz-Ωmega" in text


def test_the_receipt_pdf_in_spanish(session, book: Book, client: FlaskClient) -> None:
    book.client.locale = "es_US"
    payment = pay(book, invoices={book.old.id: 20_000})
    open_link(client, book.link)
    text = pdf_text(get(client, f"/payments/{payment.public_id}/receipt.pdf").get_data())
    assert "Número de pago" in text and payment.number in text


def test_the_statement_pdf_lists_invoices_payments_and_the_trust_ledger(
    session, book: Book, client: FlaskClient
) -> None:
    payment = pay(book, invoices={book.new.id: 30_000}, trust={book.matter.id: 7_500})
    open_link(client, book.link)
    answer = get(client, f"/matters/{book.matter.id}/statement.pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    text = pdf_text(answer.get_data())
    assert book.matter.number in text
    assert "INV-OLD" in text and "INV-NEW" in text and "$500.00" in text  # $800 less $300
    assert payment.number in text and "$375.00" in text
    # the ledger: $2,000.00 held, then the $75.00 deposit, balance after each
    assert "$2,000.00" in text and "$2,075.00" in text


# -- history and who may see what ------------------------------------------------------------------


def test_the_history_lists_this_clients_payments_with_receipts_and_pdfs(
    session, book: Book, client: FlaskClient
) -> None:
    first = pay(book, invoices={book.old.id: 20_000})
    second = pay(book, trust={book.other_matter.id: 1_000})
    open_link(client, book.link)
    page = get(client, "/payments").get_data(as_text=True)
    assert page.index(second.number) < page.index(first.number)  # newest first
    for payment in (first, second):
        assert f"/payments/{payment.public_id}/receipt.pdf" in page
    matters_page = get(client, "/matters").get_data(as_text=True)
    assert (
        "/payments" in matters_page and f"/matters/{book.matter.id}/statement.pdf" in matters_page
    )


def test_a_link_scoped_to_one_matter_lists_only_that_matters_payments(
    session, book: Book, client: FlaskClient
) -> None:
    mine = pay(book, invoices={book.old.id: 20_000})
    elsewhere = pay(book, trust={book.other_matter.id: 1_000})
    scoped = factories.link(book.client, [book.matter])
    open_link(client, scoped)
    page = get(client, "/payments").get_data(as_text=True)
    assert mine.number in page and elsewhere.number not in page
    assert get(client, f"/payments/{elsewhere.public_id}/receipt.pdf").status_code == 404
    assert get(client, f"/matters/{book.other_matter.id}/statement.pdf").status_code == 404


def test_another_clients_and_another_firms_receipts_are_not_found(
    session, book: Book, client: FlaskClient, firm, other_firm
) -> None:
    theirs = pay(book, invoices={book.old.id: 20_000})
    # another client of the same firm
    neighbour = factories.client(firm)
    neighbour_matter = factories.matter(neighbour)
    open_link(client, factories.link(neighbour))
    assert theirs.number not in get(client, "/payments").get_data(as_text=True)
    for path in (
        f"/payments/{theirs.public_id}",
        f"/payments/{theirs.public_id}/receipt.pdf",
        f"/matters/{book.matter.id}/statement.pdf",
    ):
        assert get(client, path).status_code == 404
    assert get(client, f"/matters/{neighbour_matter.id}/statement.pdf").status_code == 200
    # a client of another firm
    stranger = factories.client(other_firm)
    open_link(client, factories.link(stranger))
    assert get(client, f"/payments/{theirs.public_id}/receipt.pdf").status_code == 404
    assert theirs.number not in get(client, "/payments").get_data(as_text=True)
    assert session.scalar(select(Payment.number).where(Payment.id == theirs.id)) == theirs.number
