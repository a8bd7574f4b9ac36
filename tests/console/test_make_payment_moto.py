"""Make a payment, step 4a, on Stripe accounts: Stripe's Payment Element takes the card staff
type (no card fields of ours), only its PaymentMethod id is posted, and the charge goes to
Stripe (through the SDK's HTTP seam) as a mail/telephone order with source staff."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from portal.db import db
from portal.firms.models import MerchantAccountKind
from portal.gateways.stripe import HTTP_CLIENT_EXTENSION
from portal.payers.models import Payer
from portal.payments.models import Payment, PaymentSource
from tests import factories
from tests.api.payment_books import make_book
from tests.clocks import Clock
from tests.console.conftest import Console, Person
from tests.console.test_make_payment import MP, _carried, _preview, _search, _tick
from tests.gateways.conftest import (
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    saving_router,
)
from tests.payments.conftest import Book


@pytest.fixture
def wire(app: Flask, firm: factories.FirmWithKey) -> Iterator[FakeStripe]:
    """The firm's accounts on Stripe (test mode), answered by a FakeStripe in the process."""
    app.config.update(
        STRIPE_API_BASE="https://api.stripe.com",
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_ACCOUNTS={},
    )
    for account in firm.firm.merchant_accounts:
        account.gateway = "stripe"
    fake = FakeStripe()
    app.extensions[HTTP_CLIENT_EXTENSION] = fake
    yield fake
    app.extensions.pop(HTTP_CLIENT_EXTENSION, None)


@pytest.fixture
def book(firm: factories.FirmWithKey, frozen_clock: Clock) -> Book:
    return make_book(firm)


def _step4(console: Console, staffer: Person, book: Book) -> str:
    console.sign_in_as(staffer)
    _tick(console, _search(console, client="C-1"), [f"invoice-{book.old.id}"])
    return _preview(console, {f"invoice-{book.old.id}": "100.00"})


def test_step_4a_shows_stripes_payment_element_and_no_card_fields(
    console: Console, staffer: Person, book: Book, wire: FakeStripe
) -> None:
    console.sign_in_as(staffer)
    _tick(console, _search(console, client="C-1"), [f"invoice-{book.old.id}"])
    answer = console.post(f"{MP}/allocate", {f"invoice-{book.old.id}": "100.00"})
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    pay = page.split('id="pay"', 1)[1].split("</section>", 1)[0]
    assert "data-stripe-payment" in pay
    assert f'data-publishable-key="{PUBLISHABLE_KEY}"' in pay
    assert 'data-method="card"' in pay
    assert 'data-amount="10000"' in pay
    assert 'name="payment_method_id"' in pay
    assert 'name="card_number"' not in page
    assert 'name="card_cvc"' not in page
    nonces = re.findall(r'<script nonce="([^"]+)" src="https://js.stripe.com/v3/"', pay)
    assert len(nonces) == 1 and nonces[0]
    policy = answer.headers["Content-Security-Policy"]
    script_src = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
    assert "https://js.stripe.com" in script_src and f"'nonce-{nonces[0]}'" in script_src
    assert "https://js.stripe.com" in policy.split("frame-src", 1)[1]
    assert "js/stripe-pay.js" in pay
    assert not wire.sent  # nothing charged by showing the page


def test_a_payment_method_id_is_charged_at_stripe_as_a_phone_order(
    console: Console, staffer: Person, book: Book, firm: factories.FirmWithKey, wire: FakeStripe
) -> None:
    carried = _carried(_step4(console, staffer, book), "pay")
    carried.pop("csrf_token")
    form = {
        **carried,
        "payer_name": "Ada Client",
        "method": "card",
        "payment_method_id": "pm_card_visa",
        "card_number": "4242424242424242",  # a stray field: never read on Stripe
    }
    # when
    answer = console.post(f"{MP}/pay", form, form_page=f"{MP}/allocate")
    # then
    assert answer.status_code == 303, answer.get_data(as_text=True)
    (payment,) = db.session.scalars(select(Payment).where(Payment.firm_id == firm.id)).all()
    assert payment.source is PaymentSource.STAFF
    assert payment.staff_user_id == staffer.user.id
    assert [c.status.value for c in payment.charges] == ["succeeded"]
    (sent,) = [s for s in wire.posts() if s.path == "/v1/payment_intents"]
    assert sent.form["payment_method"] == "pm_card_visa"
    assert sent.form["payment_method_options[card][moto]"] == "true"
    assert sent.form["amount"] == "10000"
    assert "4242424242424242" not in str(sent.form)


def test_no_payment_method_id_is_asked_for_again_and_nothing_charged(
    console: Console, staffer: Person, book: Book, firm: factories.FirmWithKey, wire: FakeStripe
) -> None:
    carried = _carried(_step4(console, staffer, book), "pay")
    carried.pop("csrf_token")
    form = {**carried, "payer_name": "Ada Client", "method": "card", "payment_method_id": ""}
    answer = console.post(f"{MP}/pay", form, form_page=f"{MP}/allocate")
    assert answer.status_code == 422
    assert "data-stripe-payment" in answer.get_data(as_text=True)
    assert not wire.sent
    assert not db.session.scalars(select(Payment).where(Payment.firm_id == firm.id)).all()


def test_a_phone_payment_for_an_invoice_and_a_trust_deposit_charges_one_attached_card(
    app: Flask,
    console: Console,
    staffer: Person,
    book: Book,
    firm: factories.FirmWithKey,
    wire: FakeStripe,
) -> None:
    # given trust a Connect account of the platform: one Stripe account behind both
    trust = next(a for a in firm.firm.merchant_accounts if a.kind is MerchantAccountKind.TRUST)
    app.config["STRIPE_ACCOUNTS"] = {str(trust.id): {"connect_account": "acct_trust_1"}}
    wire.router = saving_router
    console.sign_in_as(staffer)
    _tick(
        console,
        _search(console, client="C-1"),
        [f"invoice-{book.old.id}", f"matter-{book.matter.id}"],
    )
    page = _preview(
        console, {f"invoice-{book.old.id}": "100.00", f"trust-{book.matter.id}": "300.00"}
    )
    carried = _carried(page, "pay")
    carried.pop("csrf_token")
    form = {
        **carried,
        "payer_name": "Ada Client",
        "payer_email": "ada@example.com",
        "method": "card",
        "payment_method_id": "pm_card_visa",
    }

    # when
    answer = console.post(f"{MP}/pay", form, form_page=f"{MP}/allocate")

    # then the card is attached to a Customer once, before both phone-order charges use it
    assert answer.status_code == 303, answer.get_data(as_text=True)
    (payment,) = db.session.scalars(select(Payment).where(Payment.firm_id == firm.id)).all()
    assert [c.status.value for c in payment.charges] == ["succeeded", "succeeded"]
    assert [s.path for s in wire.posts()] == [
        "/v1/customers",
        "/v1/payment_methods/pm_card_visa/attach",
        "/v1/payment_intents",
        "/v1/payment_intents",
    ]
    customer, attach, *intents = wire.posts()
    assert customer.form == {"name": "Ada Client"}  # no address: Stripe sends no receipt
    assert attach.form == {"customer": "cus_fake_1"}
    for sent in intents:
        assert sent.form["payment_method"] == "pm_card_visa"
        assert sent.form["customer"] == "cus_fake_1"
        assert sent.form["payment_method_options[card][moto]"] == "true"
        assert "setup_future_usage" not in sent.form
    assert sorted(int(s.form["amount"]) for s in intents) == [10_000, 30_000]
    # and no saved payer is kept: "Save payer" was not chosen
    assert not db.session.scalars(select(Payer).where(Payer.firm_id == firm.id)).all()

    # when the same form is sent again (a double click)
    again = console.post(f"{MP}/pay", form, form_page=f"{MP}/allocate")

    # then the first payment answers, and nothing more is asked of Stripe
    assert again.status_code == 303
    assert len(wire.posts()) == 4
