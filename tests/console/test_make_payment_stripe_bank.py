"""Make a payment, step 4a, a bank debit taken by phone on Stripe accounts, through the Flask
test client and the SDK's HTTP seam: staff type the routing and account numbers, the debit is
confirmed at Stripe with an offline mandate and micro-deposit verification, one charge per
merchant account, and the payment stays pending (nothing debited, no receipt) until Stripe's
signed event says it is processing; the done page says what the payer does next. With trust
on its own Stripe account, each account's debit is made there with its own key (the numbers,
unlike a card from Stripe's form, can go to both)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal import clock
from portal.db import db
from portal.firms.models import MerchantAccountKind
from portal.gateways.stripe import HTTP_CLIENT_EXTENSION
from portal.mail.models import OutgoingEmail
from portal.payments.models import ChargeStatus, Payment, PaymentMethod, payment_status
from tests import factories
from tests.console.conftest import Console, Person
from tests.console.test_make_payment_saved import _pay, _step4, book
from tests.console.test_make_payment_stripe_saved import TRUST_KEY, _accounts, _wire
from tests.gateways.conftest import SECRET_KEY, WEBHOOK_SECRET, FakeStripe, Sent
from tests.gateways.test_stripe_phone_bank import waiting_for_deposits
from tests.payments.conftest import Book

__all__ = ["book"]

BANK = {
    "payer_name": "Ada Parent",
    "payer_email": "ada.parent@example.com",
    "method": "ach",
    "account_holder": "Ada Parent",
    "routing_number": "110000000",
    "account_number": "000123456789",
    "account_type": "checking",
    "authorised_by": "recorded_call",
}


@pytest.fixture
def wire(app: Flask, firm: factories.FirmWithKey) -> Iterator[FakeStripe]:
    """Operating on the platform's key, trust a Connect account: both on Stripe."""
    fake = _wire(app, firm, {"connect_account": "acct_trust_1"})
    fake.router = waiting_for_deposits
    yield fake
    app.extensions.pop(HTTP_CLIENT_EXTENSION, None)


def _signed(event: dict[str, Any]) -> tuple[bytes, str]:
    body = json.dumps(event).encode()
    stamp = int(clock.now().timestamp())  # the portal's clock, which the book holds still
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return body, f"t={stamp},v1={mac.hexdigest()}"


def _intents(wire: FakeStripe) -> list[Sent]:
    return [s for s in wire.posts() if s.path == "/v1/payment_intents"]


def test_a_bank_debit_by_phone_waits_for_microdeposits_then_processes(
    app: Flask,
    console: Console,
    staffer: Person,
    book: Book,
    firm: factories.FirmWithKey,
    wire: FakeStripe,
) -> None:
    console.sign_in_as(staffer)
    page = _step4(
        console,
        book,
        {f"invoice-{book.old.id}": "100.00", f"trust-{book.matter.id}": "300.00"},
        [f"invoice-{book.old.id}", f"matter-{book.matter.id}"],
    )
    assert 'id="bank-on-stripe"' in page
    assert 'name="routing_number"' in page

    # when
    form, answer = _pay(console, page, **BANK, receipts="ada.parent@example.com")

    # then one PaymentMethod and one offline-mandate debit per merchant account
    assert answer.status_code == 303, answer.get_data(as_text=True)  # type: ignore[attr-defined]
    made = [s for s in wire.posts() if s.path == "/v1/payment_methods"]
    assert len(made) == 2
    assert {s.form["billing_details[email]"] for s in made} == {"ada.parent@example.com"}
    assert {s.form["us_bank_account[account_number]"] for s in made} == {"000123456789"}
    intents = _intents(wire)
    assert sorted(int(s.form["amount"]) for s in intents) == [10_000, 30_000]
    for sent in intents:
        assert sent.form["mandate_data[customer_acceptance][type]"] == "offline"
        assert (
            sent.form["payment_method_options[us_bank_account][verification_method]"]
            == "microdeposits"
        )
        assert "receipt_email" not in sent.form  # our receipt goes to the typed addresses
    assert sorted(s.form.get("transfer_data[destination]", "") for s in intents) == [
        "",
        "acct_trust_1",
    ]
    payment = db.session.scalars(select(Payment)).one()
    assert payment.method is PaymentMethod.ACH
    assert payment_status(payment) == "created"
    assert {c.status for c in payment.charges} == {ChargeStatus.CREATED}
    assert payment.mandate_text is not None
    assert "by a recorded telephone call to debit $400.00 once" in payment.mandate_text
    assert not db.session.scalars(
        select(OutgoingEmail).where(OutgoingEmail.ref == payment.public_id)
    ).all()  # no receipt for money not on its way

    # the done page says nothing is debited yet, and what the payer does
    done = console.get(answer.headers["Location"])  # type: ignore[attr-defined]
    text = done.get_data(as_text=True)
    assert 'id="verify-bank"' in text
    assert "is pending: nothing is debited yet" in text
    assert "emails the payer how to confirm them" in text
    assert "is taken" not in text

    # the form sent again is the same payment, nothing asked of Stripe again
    sent_before = len(wire.sent)
    again = console.post(
        "/console/make-payment/pay", form, form_page="/console/make-payment/allocate"
    )
    assert again.headers["Location"] == answer.headers["Location"]  # type: ignore[attr-defined]
    assert len(wire.sent) == sent_before

    # when the payer confirms the deposits and Stripe says the operating debit is processing
    operating = _accounts(firm)[MerchantAccountKind.OPERATING]
    charge = next(c for c in payment.charges if c.merchant_account_id == operating.id)
    event = {
        "id": "evt_bank_processing",
        "object": "event",
        "type": "payment_intent.processing",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": charge.gateway_ref,
                "object": "payment_intent",
                "status": "processing",
                "amount": 10_000,
                "metadata": {"charge": charge.public_id},
            }
        },
    }
    body, signature = _signed(event)
    hook = app.test_client().post(
        f"/hooks/stripe/{operating.id}",
        data=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )

    # then that charge is processing; the other still waits
    assert hook.status_code == 200, hook.get_data(as_text=True)
    db.session.refresh(charge)
    assert charge.status is ChargeStatus.PROCESSING
    assert payment_status(payment) == "processing"


def test_a_bank_debit_on_stripe_needs_the_payers_email(
    console: Console, staffer: Person, book: Book, wire: FakeStripe
) -> None:
    console.sign_in_as(staffer)
    page = _step4(console, book, {f"invoice-{book.old.id}": "100.00"}, [f"invoice-{book.old.id}"])
    _, answer = _pay(console, page, **{**BANK, "payer_email": ""})
    assert answer.status_code == 422  # type: ignore[attr-defined]
    text = answer.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "Stripe emails them how to verify the bank account" in text
    assert not wire.sent
    assert not db.session.scalars(select(Payment)).all()


def test_without_how_it_was_authorized_nothing_goes_to_stripe(
    console: Console, staffer: Person, book: Book, wire: FakeStripe
) -> None:
    console.sign_in_as(staffer)
    page = _step4(console, book, {f"invoice-{book.old.id}": "100.00"}, [f"invoice-{book.old.id}"])
    _, answer = _pay(console, page, **{**BANK, "authorised_by": ""})
    assert answer.status_code == 422  # type: ignore[attr-defined]
    assert "a recorded call or in writing" in answer.get_data(as_text=True)  # type: ignore[attr-defined]
    assert not wire.sent


@pytest.fixture
def apart(app: Flask, firm: factories.FirmWithKey) -> Iterator[FakeStripe]:
    """Trust on its own Stripe account (its own keys)."""
    trust = {
        "secret_key": TRUST_KEY,
        "publishable_key": "pk_test_matterpay_trust_own_account",
        "trust_fees_billed_elsewhere": True,
    }
    fake = _wire(app, firm, trust)
    fake.router = waiting_for_deposits
    yield fake
    app.extensions.pop(HTTP_CLIENT_EXTENSION, None)


def test_on_separate_stripe_accounts_each_debit_is_made_at_its_own_account(
    console: Console, staffer: Person, book: Book, apart: FakeStripe
) -> None:
    console.sign_in_as(staffer)
    page = _step4(
        console,
        book,
        {f"invoice-{book.old.id}": "100.00", f"trust-{book.matter.id}": "300.00"},
        [f"invoice-{book.old.id}", f"matter-{book.matter.id}"],
    )
    assert 'id="stripe-apart"' in page  # no card for both; the bank account below can

    # when
    _, answer = _pay(console, page, **BANK)

    # then each account's PaymentMethod and debit are made with that account's own key
    assert answer.status_code == 303, answer.get_data(as_text=True)  # type: ignore[attr-defined]
    keys = {(s.path, s.form.get("amount"), s.header("Authorization")) for s in apart.posts()}
    assert keys == {
        ("/v1/payment_methods", None, f"Bearer {SECRET_KEY}"),
        ("/v1/payment_methods", None, f"Bearer {TRUST_KEY}"),
        ("/v1/payment_intents", "10000", f"Bearer {SECRET_KEY}"),
        ("/v1/payment_intents", "30000", f"Bearer {TRUST_KEY}"),
    }
    payment = db.session.scalars(select(Payment)).one()
    assert payment_status(payment) == "created"
