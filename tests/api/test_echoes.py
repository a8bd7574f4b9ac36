"""The back office's echoes of portal payments: a payment is counted once, whichever of the
portal and the back office records it first.

Payments go through the real payment services and the sandbox gateway; the back office's side
goes through the API. Invoice INV-NEW is 800.00; matter M-1 starts with 2,000.00 in trust.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from portal.billing.models import InvoiceStatus
from portal.ledger import services as ledger
from portal.payments import services as payments
from portal.payments.models import Payment, PaymentMethod
from tests import factories
from tests.api.conftest import entry_body, invoice_body, pointers
from tests.api.payment_books import make_book, settle_ach
from tests.conftest import APIClient
from tests.payments.conftest import ACH_OK, Book, pay


@pytest.fixture
def book(session: Session, firm: factories.FirmWithKey) -> Book:
    return make_book(firm)


def _new_invoice(book: Book, balance_due: int, *echoes: Payment, **changes: Any) -> dict[str, Any]:
    """INV-NEW as the back office sends it, with `balance_due` and the payments it echoes."""
    return invoice_body(
        "M-1",
        number="INV-NEW",
        issued_on=book.new.issued_on.isoformat(),
        due_on=book.new.due_on.isoformat() if book.new.due_on else None,
        total=80_000,
        balance_due=balance_due,
        portal_payments=[payment.public_id for payment in echoes],
        **changes,
    )


def _sync_invoice(api: APIClient, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Send INV-NEW through the bulk sync; return its outcome and how it reads afterwards."""
    response = api.post("/api/v1/sync", json={"invoices": [{"external_id": "INV-NEW", **body}]})
    assert response.status_code == 200, response.get_json()
    (result,) = response.get_json()["results"]["invoices"]
    return result["outcome"], api.get("/api/v1/invoices/INV-NEW").get_json()


def _trust_balance(api: APIClient, matter: str = "M-1") -> int:
    balance: int = api.get(f"/api/v1/matters/{matter}").get_json()["trust_balance"]
    return balance


def _acknowledged(api: APIClient, payment: Payment) -> list[bool]:
    body = api.get(f"/api/v1/payments/{payment.public_id}").get_json()
    return [line["acknowledged_at"] is not None for line in body["allocations"]]


def _portal_entries(api: APIClient) -> list[dict[str, Any]]:
    entries = api.get("/api/v1/trust-entries", query_string={"limit": 500}).get_json()["data"]
    return [entry for entry in entries if entry["source"] == "portal"]


# Order (a): the portal payment settles first, the back office's figures follow.


def test_an_echoing_sync_after_a_card_payment_does_not_subtract_it_twice(
    api: APIClient, book: Book
) -> None:
    # given: the client paid 300.00 of the 800.00 by card
    payment = pay(book, invoices={book.new.id: 30_000})
    assert book.new.balance_due_minor == 50_000

    # when: the back office records it and sends its balance, net of it, naming the payment
    response = api.put("/api/v1/invoices/INV-NEW", json=_new_invoice(book, 50_000, payment))

    # then: 500.00 is owed, not 200.00
    assert response.status_code == 200
    invoice = response.get_json()
    assert (invoice["balance_due"], invoice["synced_balance_due"]) == (50_000, 50_000)
    assert invoice["status"] == "open"
    assert _acknowledged(api, payment) == [True]

    # and the same send again is unchanged, keeping the first acknowledgement
    first_seen = api.get(f"/api/v1/payments/{payment.public_id}").get_json()["allocations"]
    outcome, again = _sync_invoice(api, _new_invoice(book, 50_000, payment))
    assert outcome == "unchanged"
    assert again == invoice
    assert api.get(f"/api/v1/payments/{payment.public_id}").get_json()["allocations"] == first_seen

    # when: a stale figure from before the payment arrives, without the echo
    outcome, stale = _sync_invoice(api, _new_invoice(book, 80_000))

    # then: the payment is subtracted from it, so the balance is still net of it
    assert outcome == "updated"
    assert (stale["balance_due"], stale["synced_balance_due"]) == (50_000, 80_000)
    assert _acknowledged(api, payment) == [False]


def test_a_sync_not_yet_aware_of_a_payment_keeps_it_subtracted(api: APIClient, book: Book) -> None:
    # given
    pay(book, invoices={book.new.id: 80_000})
    assert book.new.status is InvoiceStatus.PAID

    # when: the back office has not recorded the payment yet and resends the old figure
    response = api.put("/api/v1/invoices/INV-NEW", json=_new_invoice(book, 80_000))

    # then: the invoice stays paid
    body = response.get_json()
    assert (body["balance_due"], body["synced_balance_due"], body["status"]) == (0, 80_000, "paid")
    assert body["paid_at"] is not None


def test_only_what_was_not_refunded_is_subtracted(api: APIClient, book: Book) -> None:
    # given: 300.00 paid, then 100.00 of it refunded
    payment = pay(book, invoices={book.new.id: 30_000})
    (line,) = payment.charges[0].allocations
    refund = api.post(
        f"/api/v1/payments/{payment.public_id}/refunds",
        json={"allocations": [{"allocation": line.id, "amount": 10_000}]},
        headers={"Idempotency-Key": "part"},
    )
    assert refund.status_code == 201

    # when
    _, unaware = _sync_invoice(api, _new_invoice(book, 80_000))

    # then
    assert unaware["balance_due"] == 60_000
    _, aware = _sync_invoice(api, _new_invoice(book, 60_000, payment))
    assert aware["balance_due"] == 60_000


def test_a_voided_invoice_stays_void(api: APIClient, book: Book) -> None:
    # given
    payment = pay(book, invoices={book.new.id: 80_000})

    # when
    response = api.put(
        "/api/v1/invoices/INV-NEW", json=_new_invoice(book, 0, payment, status="void")
    )

    # then
    assert response.get_json()["status"] == "void"


def test_an_echoing_trust_entry_after_a_card_deposit_counts_the_money_once(
    api: APIClient, book: Book
) -> None:
    # given: a 1,000.00 deposit by card, already in the portal's ledger
    payment = pay(book, trust={book.matter.id: 100_000})
    assert _trust_balance(api) == 300_000

    # when: the back office sends its own entry for the same deposit
    body = entry_body("M-1", amount=100_000, portal_payment=payment.public_id)
    created = api.put("/api/v1/trust-entries/T-9", json=body)

    # then: the money is in trust once, through the back office's entry
    assert created.status_code == 201
    assert created.get_json()["portal_payment"] == payment.public_id
    assert _trust_balance(api) == 300_000
    assert ledger.trust_balance(book.matter.id) == 300_000
    (portal_entry,) = _portal_entries(api)
    assert (portal_entry["amount"], portal_entry["superseded_by"]) == (100_000, "T-9")
    assert portal_entry["portal_payment"] == payment.public_id
    read = api.get("/api/v1/trust-entries/T-9").get_json()
    assert read == created.get_json()
    assert read["source"] == "back_office"
    assert read["superseded_by"] is None

    # and resending the entry changes nothing
    again = api.put("/api/v1/trust-entries/T-9", json=body)
    assert again.status_code == 200
    assert _trust_balance(api) == 300_000


# Order (b): the back office's echo arrives while the ACH debit is still processing.


def test_echoes_that_arrive_before_an_ach_debit_settles_count_it_once(
    api: APIClient, book: Book
) -> None:
    # given: 800.00 for the invoice and 1,000.00 into trust by bank debit, processing
    payment = pay(
        book,
        invoices={book.new.id: 80_000},
        trust={book.matter.id: 100_000},
        method=PaymentMethod.ACH,
        instrument=ACH_OK,
    )
    assert payments.payment_status(payment) == "processing"
    assert _trust_balance(api) == 200_000

    # when: the back office records the payment at once and sends both figures naming it
    invoice = api.put("/api/v1/invoices/INV-NEW", json=_new_invoice(book, 0, payment))
    entry = api.put(
        "/api/v1/trust-entries/T-9",
        json=entry_body("M-1", amount=100_000, portal_payment=payment.public_id),
    )

    # then: the back office's figures count
    assert invoice.status_code == 200
    assert (invoice.get_json()["balance_due"], invoice.get_json()["status"]) == (0, "paid")
    assert entry.status_code == 201
    assert _trust_balance(api) == 300_000

    # when: the debit settles
    settle_ach(payment)

    # then: nothing is counted a second time
    assert payments.payment_status(payment) == "succeeded"
    settled = api.get("/api/v1/invoices/INV-NEW").get_json()
    assert (settled["balance_due"], settled["synced_balance_due"]) == (0, 0)
    assert book.new.reserved_minor == 0
    assert _trust_balance(api) == 300_000
    assert ledger.trust_balance(book.matter.id) == 300_000
    (portal_entry,) = _portal_entries(api)
    assert (portal_entry["amount"], portal_entry["superseded_by"]) == (100_000, "T-9")
    # and a resend of the same figures is unchanged
    outcome, _ = _sync_invoice(api, _new_invoice(book, 0, payment))
    assert outcome == "unchanged"


def test_an_unechoed_ach_payment_is_subtracted_when_it_settles(api: APIClient, book: Book) -> None:
    # given: the back office resends its figure without knowing of the processing debit
    payment = pay(book, invoices={book.new.id: 30_000}, method=PaymentMethod.ACH, instrument=ACH_OK)
    _, before = _sync_invoice(api, _new_invoice(book, 80_000))
    assert before["balance_due"] == 80_000

    # when
    settle_ach(payment)

    # then
    assert api.get("/api/v1/invoices/INV-NEW").get_json()["balance_due"] == 50_000
    _, after = _sync_invoice(api, _new_invoice(book, 80_000))
    assert after["balance_due"] == 50_000


# Refused echoes


def test_an_unknown_or_foreign_or_unrelated_payment_is_422_on_its_field(
    api: APIClient, book: Book, other_firm: factories.FirmWithKey
) -> None:
    # given
    theirs = make_book(other_firm)
    foreign = pay(theirs, invoices={theirs.new.id: 1_000})
    elsewhere = pay(book, invoices={book.old.id: 1_000})
    mine = pay(book, invoices={book.new.id: 1_000})
    body = _new_invoice(book, 79_000, mine, elsewhere, foreign)
    body["portal_payments"].insert(0, "no-such-payment")

    # when
    single = api.put("/api/v1/invoices/INV-NEW", json=body)
    synced = api.post("/api/v1/sync", json={"invoices": [{"external_id": "INV-NEW", **body}]})

    # then
    assert single.status_code == synced.status_code == 422
    assert pointers(single) == ["/portal_payments/0", "/portal_payments/2", "/portal_payments/3"]
    details = [error["detail"] for error in single.get_json()["errors"]]
    assert details[0] == "portal_payments[0] 'no-such-payment' is not a payment of this firm"
    assert "paid nothing on invoice 'INV-NEW'" in details[1]
    assert details[2] == f"portal_payments[3] {foreign.public_id!r} is not a payment of this firm"
    assert pointers(synced) == [
        "/invoices/0/portal_payments/0",
        "/invoices/0/portal_payments/2",
        "/invoices/0/portal_payments/3",
    ]
    assert book.new.synced_balance_minor is None


def test_a_new_invoice_cannot_echo_a_payment(api: APIClient, book: Book) -> None:
    # given
    payment = pay(book, invoices={book.new.id: 1_000})

    # when
    response = api.put("/api/v1/invoices/INV-LATER", json=_new_invoice(book, 1_000, payment))

    # then
    assert response.status_code == 422
    assert pointers(response) == ["/portal_payments/0"]


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("unknown", "is not a payment of this firm"),
        ("disbursement", "only a deposit (a positive amount)"),
        ("invoice payment", "made no trust deposit to matter 'M-1'"),
        ("other matter", "made no trust deposit to matter 'M-1'"),
        ("recorded", "already recorded by trust entry 'T-9'"),
    ],
)
def test_a_trust_entry_echo_is_refused_when_it_cannot_record_the_deposit(
    api: APIClient, book: Book, case: str, words: str
) -> None:
    # given
    deposit = pay(book, trust={book.matter.id: 10_000})
    echoes = {
        "unknown": "no-such-payment",
        "disbursement": deposit.public_id,
        "invoice payment": pay(book, invoices={book.new.id: 1_000}).public_id,
        "other matter": pay(book, trust={book.other_matter.id: 1_000}).public_id,
        "recorded": deposit.public_id,
    }
    if case == "recorded":
        body = entry_body("M-1", amount=10_000, portal_payment=deposit.public_id)
        assert api.put("/api/v1/trust-entries/T-9", json=body).status_code == 201
    amount = -10_000 if case == "disbursement" else 10_000

    # when
    response = api.put(
        "/api/v1/trust-entries/T-10",
        json=entry_body("M-1", amount=amount, portal_payment=echoes[case]),
    )

    # then
    assert response.status_code == 422
    (error,) = response.get_json()["errors"]
    assert error["pointer"] == "/portal_payment"
    assert words in error["detail"]
    assert api.get("/api/v1/trust-entries/T-10").status_code == 404


def test_one_sync_cannot_record_a_deposit_twice(api: APIClient, book: Book) -> None:
    # given
    deposit = pay(book, trust={book.matter.id: 10_000})
    entry = entry_body("M-1", amount=10_000, portal_payment=deposit.public_id)

    # when
    response = api.post(
        "/api/v1/sync",
        json={
            "trust_entries": [
                {"external_id": "T-9", **entry},
                {"external_id": "T-10", **entry},
            ]
        },
    )

    # then
    assert response.status_code == 422
    assert pointers(response) == ["/trust_entries/1/portal_payment"]
    assert _trust_balance(api) == 210_000


def test_the_echo_is_part_of_the_recorded_entry(api: APIClient, book: Book) -> None:
    # given
    deposit = pay(book, trust={book.matter.id: 10_000})
    body = entry_body("M-1", amount=10_000, portal_payment=deposit.public_id)
    api.put("/api/v1/trust-entries/T-9", json=body)

    # when: sent again without the echo
    response = api.put("/api/v1/trust-entries/T-9", json={**body, "portal_payment": None})

    # then
    assert response.status_code == 409
    assert pointers(response) == ["/portal_payment"]
    assert _trust_balance(api) == 210_000
