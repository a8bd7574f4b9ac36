"""A payment through payments.services.start_payment with a merchant account on Stripe, charged
at localstripe, and localstripe's signed event applied once through POST /hooks/stripe/<id>."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.billing.models import InvoiceStatus
from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.gateways.base import Instrument
from portal.payments.models import ChargeStatus, FailedAttempt
from tests.gateways.conftest import LocalStripe, merchant_accounts
from tests.payments.conftest import Book, pay

S = ChargeStatus


@pytest.fixture
def operating(book: Book, on_localstripe: LocalStripe) -> MerchantAccount:
    account = merchant_accounts(book.link.firm_id)[MerchantAccountKind.OPERATING]
    account.gateway = "stripe"
    return account


def test_a_card_payment_is_charged_at_stripe(session, book: Book, operating) -> None:
    # when the client pays the overdue invoice with a card collected by the Payment Element
    payment = pay(
        book,
        invoices={book.old.id: 120_000},
        instrument=Instrument(payment_method_id="pm_card_visa"),
    )
    # then the charge went to Stripe and succeeded there
    (charge,) = payment.charges
    assert charge.gateway == "stripe"
    assert charge.merchant_account_id == operating.id
    assert charge.gateway_ref
    assert charge.gateway_ref.startswith("pi_")
    assert charge.status is S.SUCCEEDED
    assert (charge.instrument_brand, charge.instrument_last4) == ("visa", "4242")
    # and the history shows it was recorded before the call, then moved by Stripe's answer
    moves = [(e.from_status, e.to_status, e.source, e.source_ref) for e in charge.events]
    assert moves == [
        (None, S.CREATED, "portal", None),
        (S.CREATED, S.SUCCEEDED, "gateway", charge.gateway_ref),
    ]
    assert book.old.status is InvoiceStatus.PAID
    assert book.old.reserved_minor == 0


def test_a_decline_at_stripe_releases_the_invoice(session, book: Book, operating) -> None:
    payment = pay(
        book,
        invoices={book.old.id: 120_000},
        instrument=Instrument(payment_method_id="pm_card_chargeCustomerFail"),
    )
    (charge,) = payment.charges
    assert charge.status is S.FAILED
    assert charge.failure_code == "card_declined"
    assert charge.gateway_ref
    assert charge.gateway_ref.startswith("pi_")
    assert book.old.status is InvoiceStatus.OPEN
    assert book.old.reserved_minor == 0
    assert session.scalars(select(FailedAttempt)).one().code == "card_declined"


def test_3d_secure_payment_succeeds_only_when_stripe_says_so(
    session, client, book: Book, operating, on_localstripe: LocalStripe
) -> None:
    card = on_localstripe.card("4000002760003184")
    # when the client pays with a card whose bank asks for 3-D Secure
    payment = pay(
        book, invoices={book.old.id: 120_000}, instrument=Instrument(payment_method_id=card)
    )
    # then the charge waits: nothing is recorded as paid, the invoice is only held
    (charge,) = payment.charges
    assert charge.status is S.CREATED
    assert charge.gateway_ref
    assert charge.gateway_ref.startswith("pi_")
    assert book.old.status is InvoiceStatus.OPEN
    assert book.old.reserved_minor == 120_000

    # when the payer completes authentication and Stripe reports the PaymentIntent succeeded
    intent = on_localstripe.intent(charge.gateway_ref)
    on_localstripe.authenticate(charge.gateway_ref, intent["client_secret"])
    delivery = on_localstripe.receiver.wait_for("payment_intent.succeeded", charge.gateway_ref)
    headers = {"Stripe-Signature": delivery.signature, "Content-Type": "application/json"}
    first = client.post(f"/hooks/stripe/{operating.id}", data=delivery.body, headers=headers)

    # then the signed event is applied
    assert first.status_code == 200
    assert first.get_json()["outcome"] == "applied"
    session.refresh(charge)
    assert charge.status is S.SUCCEEDED
    assert [(e.from_status, e.to_status, e.source) for e in charge.events][-1] == (
        S.CREATED,
        S.SUCCEEDED,
        "gateway",
    )
    session.refresh(book.old)
    assert book.old.status is InvoiceStatus.PAID
    assert book.old.reserved_minor == 0

    # and Stripe redelivering it (to the address the API shows, by public id) changes nothing
    again = client.post(f"/hooks/stripe/{operating.public_id}", data=delivery.body, headers=headers)
    assert again.status_code == 200
    assert again.get_json()["outcome"] == "duplicate"
    session.refresh(charge)
    assert len(charge.events) == 2


def test_an_event_signed_for_another_endpoint_is_refused(
    session, client, book: Book, operating, on_localstripe: LocalStripe, app
) -> None:
    payment = pay(
        book,
        invoices={book.old.id: 120_000},
        instrument=Instrument(payment_method_id="pm_card_visa"),
    )
    (charge,) = payment.charges
    delivery = on_localstripe.receiver.wait_for("payment_intent.succeeded", charge.gateway_ref)
    # when this account's endpoint has its own secret
    app.config["STRIPE_ACCOUNTS"] = {str(operating.id): {"webhook_secret": "whsec_other"}}
    response = client.post(
        f"/hooks/stripe/{operating.id}",
        data=delivery.body,
        headers={"Stripe-Signature": delivery.signature},
    )
    assert response.status_code == 400
