"""The client's pay page on Stripe, through the SDK's HTTP seam: a card from the Payment
Element paying an invoice and a trust deposit at one Stripe account is attached to one
Customer before both PaymentIntents; with "Save this card" ticked it is kept on that Customer
and its first charges carry setup_future_usage "off_session" for the firm's later charges."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal.firms.models import MerchantAccountKind
from portal.gateways.stripe import HTTP_CLIENT_EXTENSION
from portal.payers.models import ConsentScope, SavedMethod
from portal.payments.models import ChargeStatus
from tests.gateways.conftest import (
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    Sent,
    saving_router,
)
from tests.payments import test_views
from tests.payments.test_views import Books, Browser, choose, payments_of

books = test_views.books
browser = test_views.browser


@pytest.fixture
def wire(app: Flask, firm: Any) -> Iterator[FakeStripe]:
    """Operating on the platform's key, trust a Connect account of it: one Stripe account."""
    accounts = {a.kind: a for a in firm.firm.merchant_accounts}
    trust = accounts[MerchantAccountKind.TRUST]
    app.config.update(
        STRIPE_API_BASE="https://api.stripe.com",
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_ACCOUNTS={str(trust.id): {"connect_account": "acct_trust_1"}},
    )
    for account in accounts.values():
        account.gateway = "stripe"
    fake = FakeStripe()
    fake.router = saving_router
    app.extensions[HTTP_CLIENT_EXTENSION] = fake
    yield fake
    app.extensions.pop(HTTP_CLIENT_EXTENSION, None)


def _pay(browser: Browser, books: Books, *, save: bool) -> Any:
    review = choose(
        browser.basket(), invoices={books.new.id: "100"}, trust={books.lawsuit.id: "250"}
    ).submit()
    assert review.status_code == 200, review.text
    confirm = browser.form(review, "confirm").set("payment_method_id", "pm_card_visa")
    if save:
        confirm.set("save_method", "yes")
    return confirm.submit()


def _intents(wire: FakeStripe) -> list[Sent]:
    return [s for s in wire.posts() if s.path == "/v1/payment_intents"]


def test_a_card_for_an_invoice_and_a_deposit_is_attached_once_and_not_kept(
    browser: Browser, books: Books, session: Any, wire: FakeStripe
) -> None:
    done = _pay(browser, books, save=False)

    assert done.status_code == 303, done.text
    (payment,) = payments_of(session, books)
    assert [c.status for c in payment.charges] == [ChargeStatus.SUCCEEDED] * 2
    assert [s.path for s in wire.posts()] == [
        "/v1/customers",
        "/v1/payment_methods/pm_card_visa/attach",
        "/v1/payment_intents",
        "/v1/payment_intents",
    ]
    customer = wire.posts()[0]
    assert customer.form == {"name": "Ada Client", "email": "ada@example.com"}
    assert customer.header("Idempotency-Key") == f"payment-card:{payment.public_id}:customer"
    for sent in _intents(wire):
        assert (sent.form["payment_method"], sent.form["customer"]) == (
            "pm_card_visa",
            "cus_fake_1",
        )
        assert "setup_future_usage" not in sent.form
        assert "payment_method_options[card][moto]" not in sent.form
    assert not session.scalars(select(SavedMethod)).all()  # the Customer is no saved card


def test_save_this_card_sets_the_first_charges_up_for_the_firms_later_ones(
    browser: Browser, books: Books, session: Any, wire: FakeStripe
) -> None:
    done = _pay(browser, books, save=True)

    assert done.status_code == 303, done.text
    (method,) = session.scalars(select(SavedMethod)).all()
    assert [c.scope for c in method.consents] == [ConsentScope.FUTURE_FIRM_INITIATED]
    # kept once (its Customer and attachment), then both charges through it, set up
    assert [s.path for s in wire.posts()] == [
        "/v1/customers",
        "/v1/payment_methods/pm_card_visa/attach",
        "/v1/payment_intents",
        "/v1/payment_intents",
    ]
    for sent in _intents(wire):
        assert sent.form["customer"] == "cus_fake_1"
        assert sent.form["setup_future_usage"] == "off_session"
        assert "off_session" not in sent.form
