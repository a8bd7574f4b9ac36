"""The unmatched queue: pay-button payments whose reference matched nothing, applied from the
console through the same use case as `POST /api/v1/payments/{id}/apply`."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit.models import AuditEvent
from portal.billing.models import Invoice
from portal.payments.models import Payment
from tests import factories
from tests.api.payment_books import make_book
from tests.api.unmatched_books import public_payment, unapplied_trust_payment
from tests.console.conftest import Console, Person, make_person
from tests.payments.conftest import Book, pay

QUEUE = "/console/unmatched"


@pytest.fixture
def book(session: Session, firm: factories.FirmWithKey, admin: Person) -> Book:
    return make_book(firm)


@pytest.fixture
def stray(book: Book, firm: factories.FirmWithKey) -> Payment:
    """$250.00 paid on the firm's pay page with a reference that is no invoice."""
    return public_payment(firm.firm, "INV-1O01", 25_000)


def _apply(console: Console, payment: Payment, to: str, reference: str) -> tuple[int, str]:
    prefix = f"p-{payment.public_id}"
    response = console.post(
        f"/console/unmatched/{payment.public_id}/apply",
        {f"{prefix}-to": to, f"{prefix}-reference": reference},
        form_page=QUEUE,
    )
    return response.status_code, response.get_data(as_text=True)


def test_the_queue_lists_only_open_unmatched_payments(
    console: Console, staffer: Person, book: Book, stray: Payment
) -> None:
    matched = pay(book, invoices={book.new.id: 1_000})
    console.sign_in_as(staffer)
    page = console.get(QUEUE).get_data(as_text=True)
    assert f'id="u-{stray.public_id}"' in page
    assert f'id="u-{matched.public_id}"' not in page
    assert "INV-1O01" in page
    assert "$250.00" in page


def test_applying_to_an_invoice_pays_it_and_empties_the_queue(
    console: Console, staffer: Person, book: Book, stray: Payment, session: Session
) -> None:
    console.sign_in_as(staffer)
    status, _ = _apply(console, stray, "invoice", "INV-OLD")
    assert status == 303
    invoice = session.get(Invoice, book.old.id, populate_existing=True)
    assert invoice is not None and invoice.balance_due_minor == 95_000
    page = console.get(QUEUE).get_data(as_text=True)
    assert 'id="queue-empty"' in page
    assert "applied to INV-OLD" in page
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "payment.apply")).one()
    assert event.entity_id == stray.public_id
    assert (event.actor_kind, event.actor_id) == ("staff", str(staffer.user.id))


def test_operating_money_cannot_become_trust_and_the_page_says_what_to_do(
    console: Console, staffer: Person, stray: Payment
) -> None:
    console.sign_in_as(staffer)
    status, page = _apply(console, stray, "matter", "M-1")
    assert status == 409
    assert "charged to the operating account" in page
    assert "Apply it to an invoice, or refund it" in page
    assert 'value="M-1"' in page  # what was typed is kept
    assert f'id="u-{stray.public_id}"' in page  # still waiting


def test_trust_money_cannot_pay_an_invoice(
    console: Console, staffer: Person, book: Book, firm: factories.FirmWithKey
) -> None:
    trust = unapplied_trust_payment(firm.firm, 5_000)
    console.sign_in_as(staffer)
    status, page = _apply(console, trust, "invoice", "INV-OLD")
    assert status == 409
    assert "trust money cannot pay an invoice" in page
    status, _ = _apply(console, trust, "matter", "M-1")
    assert status == 303


def test_an_unknown_invoice_or_an_empty_box_is_shown_next_to_the_field(
    console: Console, staffer: Person, stray: Payment
) -> None:
    console.sign_in_as(staffer)
    status, page = _apply(console, stray, "invoice", "INV-NOPE")
    assert status == 422
    assert "No invoice of the firm has this id." in page
    assert 'value="INV-NOPE"' in page
    status, page = _apply(console, stray, "invoice", "")
    assert status == 422
    assert "or the matter" in page.split('class="field-error"', 1)[1][:80]


def test_another_firms_payment_is_not_found(
    console: Console, stray: Payment, other_firm: factories.FirmWithKey
) -> None:
    console.sign_in_as(make_person(other_firm, "x@brandt.example", role="staff"))
    assert f'id="u-{stray.public_id}"' not in console.get(QUEUE).get_data(as_text=True)
    status, _ = _apply(console, stray, "invoice", "INV-OLD")
    assert status == 404


@pytest.mark.parametrize("last", ["-", "_"])
def test_a_payment_id_ending_in_a_separator_names_the_same_fields(
    console: Console, staffer: Person, book: Book, stray: Payment, session: Session, last: str
) -> None:
    # Public ids are URL-safe base64: one in 32 ends in "-" or "_", after which WTForms used
    # to add no separator of its own, and the posted field names no longer matched the form's.
    stray.public_id = stray.public_id[:-1] + last
    session.flush()
    console.sign_in_as(staffer)
    page = console.get(QUEUE).get_data(as_text=True)
    assert f'name="p-{stray.public_id}-reference"' in page
    status, _ = _apply(console, stray, "invoice", "INV-OLD")
    assert status == 303
