"""Send for payment, on the client's side: a link that carries an allocation opens with exactly
those lines and amounts; the client may lower an amount only where partial payments are
allowed, never raise one or add a line; a tampered form is refused by the server."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.links import issuing
from portal.links.lines import LineRequest
from portal.payments.models import AllocationKind
from tests.payments.test_views import VISA, Books, Browser, books, location, payments_of, text_of

__all__ = ["books"]  # the fixture, used here too


@pytest.fixture
def carried(session, books: Books):
    return issuing.create_link(
        firm_id=books.client.firm_id,
        client=books.client.external_id,
        matters=[],
        expires_in=None,
        ar_note="Phone call with Ada",
        lines=[
            LineRequest(0, invoice=books.old.external_id, amount_minor=100_000),
            LineRequest(1, invoice=books.probate.external_id, amount_minor=64_000),
            LineRequest(2, matter=books.lawsuit.external_id, trust_amount_minor=50_000),
        ],
    )


@pytest.fixture
def payer(client: FlaskClient, carried) -> Browser:
    b = Browser(client)
    b.open(carried)
    return b


def test_the_pay_page_opens_with_exactly_the_lines(payer: Browser, books: Books) -> None:
    basket = payer.basket()
    assert sorted(basket.values("invoice")) == sorted([str(books.old.id), str(books.probate.id)])
    assert basket.value(f"invoice-{books.old.id}") == "1000.00"
    assert basket.value(f"invoice-{books.probate.id}") == "640.00"
    assert basket.values("trust") == [str(books.lawsuit.id)]
    assert basket.value(f"trust-{books.lawsuit.id}") == "500.00"
    # INV-NEW is the client's too, but not on this link
    assert "INV-NEW" not in text_of(payer.get("/pay").text)


def test_the_client_pays_exactly_that_allocation(payer: Browser, books: Books, session) -> None:
    review = payer.basket().set("method", "card").submit()
    assert review.status_code == 200, text_of(review.text)
    done = payer.form(review, "confirm").fill(VISA).submit()
    assert done.status_code == 303 and location(done).startswith("/payments/")
    (payment,) = payments_of(session, books)
    lines = sorted(
        (a.kind, a.invoice_id or a.matter_id, a.amount_minor)
        for charge in payment.charges
        for a in charge.allocations
    )
    assert lines == sorted(
        [
            (AllocationKind.INVOICE, books.old.id, 100_000),
            (AllocationKind.INVOICE, books.probate.id, 64_000),
            (AllocationKind.TRUST_DEPOSIT, books.lawsuit.id, 50_000),
        ]
    )
    assert len(payment.charges) == 2
    assert payment.ar_note == "Phone call with Ada"


def test_lowering_an_amount_is_allowed_with_partial_payments(
    payer: Browser, books: Books, session
) -> None:
    basket = payer.basket().set(f"invoice-{books.old.id}", "400.00").set("method", "card")
    review = basket.submit()
    assert review.status_code == 200, text_of(review.text)
    payer.form(review, "confirm").fill(VISA).submit()
    (payment,) = payments_of(session, books)
    assert payment.total_minor == 40_000 + 64_000 + 50_000


def test_lowering_is_refused_without_partial_payments(
    app: Flask, payer: Browser, books: Books, session
) -> None:
    app.config["PAYMENTS_ALLOW_PARTIAL"] = False
    basket = payer.basket().set(f"trust-{books.lawsuit.id}", "100.00").set("method", "card")
    response = basket.submit()
    assert response.status_code == 422
    assert "must be paid in full." in text_of(response.text)
    assert payments_of(session, books) == []


@pytest.mark.parametrize(
    "tamper",
    [
        "raise",  # more than the line asks
        "add",  # a line the link does not carry
        "total",  # a total auto-applied beyond the lines (review only)
    ],
)
def test_tampering_is_refused_at_review_and_at_confirm(
    payer: Browser, books: Books, session, tamper: str
) -> None:
    basket = payer.basket().set("method", "card")
    review = basket.submit()
    confirm = payer.form(review, "confirm").fill(VISA)
    for form in (basket, confirm):
        if tamper == "raise":
            form.set(f"invoice-{books.old.id}", "1200.00")
        elif tamper == "add":
            form.tick("invoice", str(books.new.id)).set(f"invoice-{books.new.id}", "800.00")
        else:
            form.set("total", "2640.00")
    assert basket.submit().status_code == 422
    if tamper == "total":  # the confirm form carries lines, never a total
        return
    answer = confirm.submit()
    assert answer.status_code in (409, 422), answer.status_code
    assert payments_of(session, books) == []
