"""POST /api/v1/payments/{id}/apply: a pay-button payment whose reference matched nothing,
applied by the firm to one of its invoices or to a matter's trust, once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit.models import AuditEvent
from portal.billing.models import Invoice, InvoiceStatus
from portal.firms.models import APIKey
from portal.payments.models import Payment, PaymentMethod
from portal.postings.models import OutboundMessage
from tests import factories
from tests.api.payment_books import make_book
from tests.api.unmatched_books import public_payment, unapplied_trust_payment
from tests.conftest import APIClient
from tests.payments.conftest import ACH_OK, Book, pay


@pytest.fixture
def book(session: Session, firm: factories.FirmWithKey) -> Book:
    return make_book(firm)


@pytest.fixture
def stray(book: Book, firm: factories.FirmWithKey) -> Payment:
    """$250.00 paid on the firm's pay page with a reference that is no invoice."""
    return public_payment(firm.firm, "INV-1O01", 25_000)


def _apply(api: APIClient, payment_id: str, **body: Any) -> Any:
    return api.post(f"/api/v1/payments/{payment_id}/apply", json=body)


def _postings(session: Session, payment: Payment, type_: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(OutboundMessage.payload).where(
            OutboundMessage.payment_id == payment.id, OutboundMessage.type == type_
        )
    )
    return [json.loads(row)["data"] for row in rows]


def test_applying_to_an_invoice_pays_it_resolves_the_flag_and_posts(
    api: APIClient, book: Book, stray: Payment, session: Session, firm: factories.FirmWithKey
) -> None:
    # when
    response = _apply(api, stray.public_id, invoice="INV-OLD")

    # then: the payment now pays the invoice, for the whole amount
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [(a["kind"], a["invoice"], a["matter"], a["amount"]) for a in body["allocations"]] == [
        ("invoice", "INV-OLD", "M-1", 25_000)
    ]
    assert body["client"] == "C-1"
    (flag,) = body["flags"]
    assert flag["code"] == "unmatched"
    assert flag["resolved_at"] is not None
    invoice = session.get(Invoice, book.old.id, populate_existing=True)
    assert (invoice.balance_due_minor, invoice.reserved_minor) == (95_000, 0)
    # and it leaves the queue of unmatched payments
    queue = api.get("/api/v1/payments", query_string={"unmatched": "true"}).get_json()
    assert queue["data"] == []
    # and the back office is told, by its own ids
    (posting,) = _postings(session, stray, "payment.applied")
    assert posting["applied"] == {
        "to": "invoice",
        "invoice": "INV-OLD",
        "matter": "M-1",
        "amount_minor": 25_000,
    }
    assert posting["unmatched"] is False
    assert posting["allocations"][0]["invoice"]["external_id"] == "INV-OLD"
    # and the audit log says which key did it
    key_id = session.scalar(select(APIKey.id).where(APIKey.firm_id == firm.id))
    (event,) = session.scalars(
        select(AuditEvent).where(
            AuditEvent.firm_id == firm.id, AuditEvent.action == "payment.apply"
        )
    )
    assert (event.actor_kind, event.actor_id, event.entity_id) == (
        "api_key",
        str(key_id),
        stray.public_id,
    )
    assert event.after["invoice"] == "INV-OLD"


def test_applying_again_changes_nothing(
    api: APIClient, book: Book, stray: Payment, session: Session
) -> None:
    # given
    first = _apply(api, stray.public_id, invoice="INV-OLD")

    # when
    again = _apply(api, stray.public_id, invoice="INV-OLD")
    elsewhere = _apply(api, stray.public_id, invoice="INV-NEW")

    # then
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert elsewhere.status_code == 409
    assert elsewhere.get_json()["type"] == "/problems/already-applied"
    assert "refund" in elsewhere.get_json()["detail"]
    invoice = session.get(Invoice, book.old.id, populate_existing=True)
    assert invoice.balance_due_minor == 95_000
    assert len(_postings(session, stray, "payment.applied")) == 1


def test_operating_money_cannot_become_trust(
    api: APIClient, book: Book, stray: Payment, session: Session
) -> None:
    # when
    response = _apply(api, stray.public_id, matter="M-1")

    # then
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == "/problems/wrong-account"
    assert "operating account" in problem["detail"]
    assert (
        "refund it and ask the client to pay the deposit into the trust account"
        in (problem["detail"])
    )
    assert _apply(api, stray.public_id, invoice="INV-NEW").status_code == 200


def test_trust_money_goes_to_a_matters_trust_and_never_pays_an_invoice(
    api: APIClient, book: Book, firm: factories.FirmWithKey
) -> None:
    # given: $300.00 taken into trust that names no matter; M-2 holds nothing in trust
    payment = unapplied_trust_payment(firm.firm, 30_000)

    # when
    refused = _apply(api, payment.public_id, invoice="INV-OLD")
    applied = _apply(api, payment.public_id, matter="M-2")

    # then
    assert refused.status_code == 409
    assert refused.get_json()["type"] == "/problems/wrong-account"
    assert "pay the invoice into the operating account" in refused.get_json()["detail"]
    assert applied.status_code == 200, applied.get_json()
    (line,) = applied.get_json()["allocations"]
    assert (line["kind"], line["matter"], line["amount"]) == ("trust_deposit", "M-2", 30_000)
    entries = api.get("/api/v1/matters/M-2").get_json()
    assert entries["trust_balance"] == 30_000


def test_more_than_is_due_is_refused(
    api: APIClient, book: Book, firm: factories.FirmWithKey, session: Session
) -> None:
    # given: $900.00 paid against nothing, and INV-NEW has $800.00 due of which $100 is held
    payment = public_payment(firm.firm, "NOTHING", 90_000)
    pay(book, invoices={book.new.id: 10_000}, method=PaymentMethod.ACH, instrument=ACH_OK)

    # when
    over = _apply(api, payment.public_id, invoice="INV-NEW")

    # then
    assert over.status_code == 409
    problem = over.get_json()
    assert problem["type"] == "/problems/apply-exceeds-due"
    assert "$900.00" in problem["detail"] and "$700.00" in problem["detail"]
    invoice = session.get(Invoice, book.new.id, populate_existing=True)
    assert (invoice.balance_due_minor, invoice.status) == (80_000, InvoiceStatus.OPEN)
    shown = api.get(f"/api/v1/payments/{payment.public_id}").get_json()
    assert shown["allocations"] == []
    assert shown["flags"][0]["resolved_at"] is None
    assert _apply(api, payment.public_id, invoice="INV-OLD").status_code == 200


def test_another_firms_payment_or_invoice_is_not_found(
    api: APIClient,
    other_api: APIClient,
    book: Book,
    stray: Payment,
    other_firm: factories.FirmWithKey,
) -> None:
    # given
    theirs = factories.matter(factories.client(other_firm), external_id="M-X")
    factories.invoice(theirs, external_id="INV-X", total_minor=100_000)

    # then
    assert _apply(other_api, stray.public_id, invoice="INV-X").status_code == 404
    assert _apply(api, stray.public_id, invoice="INV-X").status_code == 404
    assert _apply(api, stray.public_id, matter="M-X").status_code == 404
    assert _apply(api, "pay_nosuchpayment", invoice="INV-OLD").status_code in (404, 422)


def test_a_payment_that_matched_is_not_applied_again(api: APIClient, book: Book) -> None:
    # given
    linked = pay(book, invoices={book.new.id: 1_000})

    # when
    response = _apply(api, linked.public_id, invoice="INV-OLD")

    # then
    assert response.status_code == 409
    assert response.get_json()["type"] == "/problems/apply-refused"


@pytest.mark.parametrize(
    "body", [{}, {"invoice": "INV-OLD", "matter": "M-1"}, {"invoice": 12}, {"payment": "x"}]
)
def test_the_body_names_one_target(api: APIClient, stray: Payment, body: dict[str, Any]) -> None:
    # when
    response = api.post(f"/api/v1/payments/{stray.public_id}/apply", json=body)

    # then
    assert response.status_code == 422
    assert response.get_json()["errors"]
