"""Make a payment in a real browser on a Stripe account: "Save payer" with the card typed into
Stripe's Payment Element (a stand-in Stripe.js served for js.stripe.com), kept on a Customer
and charged as a mail/telephone order (the SDK's HTTP seam answers as Stripe), then a second
payment choosing the saved card: nothing for Stripe.js to collect, charged off-session. And a
bank debit by phone on the same page: the element stands aside, the typed numbers go to our
server, and the done page says the payer confirms Stripe's micro-deposits first."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from portal.db import db
from portal.firms.models import Firm, MerchantAccount, MerchantAccountKind
from portal.gateways.stripe import HTTP_CLIENT_EXTENSION
from portal.payers.models import ConsentHow, ConsentScope, SavedMethod
from portal.payments.models import Payment
from tests.browser.conftest import Book, LiveServer
from tests.browser.test_make_payment import _type
from tests.browser.test_make_payment_moto import FAKE_STRIPE_JS
from tests.browser.test_make_payment_saved import _press, _to_step4
from tests.console.conftest import PASSWORD, make_person
from tests.gateways.conftest import (
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    saving_router,
)
from tests.gateways.test_stripe_phone_bank import waiting_for_deposits


def test_save_payer_on_stripe_then_pay_with_the_saved_card(
    make_page: Any, live_server: LiveServer, book: Book
) -> None:
    app = live_server.app
    fake = FakeStripe()
    fake.router = saving_router
    app.extensions[HTTP_CLIENT_EXTENSION] = fake
    with app.app_context():
        firm = db.session.scalars(select(Firm)).one()
        accounts = list(db.session.scalars(select(MerchantAccount)))
        for account in accounts:
            account.gateway = "stripe"
        trust = next(a for a in accounts if a.kind is MerchantAccountKind.TRUST)
        app.config.update(
            STRIPE_API_BASE="https://api.stripe.com",
            STRIPE_SECRET_KEY=SECRET_KEY,
            STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            STRIPE_ACCOUNTS={str(trust.id): {"connect_account": "acct_trust_1"}},
        )
        make_person(firm, "sam@okafor.example", role="staff", mfa=False)
        db.session.commit()
    page = make_page()
    page.route(
        "https://js.stripe.com/v3/",
        lambda route: route.fulfill(body=FAKE_STRIPE_JS, content_type="application/javascript"),
    )
    page.goto(live_server.url + "/console/sign-in")
    _type(page, "#email", "sam@okafor.example")
    _type(page, "#password", PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")

    # the first call: a new payer, the card typed into Stripe's element, "Save payer"
    _to_step4(page, "100.00")
    expect(page.locator("#fake-element")).to_be_visible()
    assert page.locator("#card_number").count() == 0
    expect(page.locator("#save-payer-stripe")).to_be_visible()
    _type(page, "#payer_name", "Kofi Mensah")
    _type(page, "#payer_email", "kofi@example.com")
    _press(page, page.locator("#save_payer"), "Space")
    future = page.get_by_label("Future payments the firm initiates", exact=False)
    _press(page, future, "Space")
    expect(future).to_be_checked()
    _press(page, page.get_by_role("button", name="Charge $100.00"))
    expect(page.locator("#done")).to_contain_text("is taken")
    kept = [s.path for s in fake.posts() if not s.path.startswith("/v1/payment_intents")]
    assert kept == ["/v1/customers", "/v1/payment_methods/pm_card_visa/attach"]
    (first,) = [s for s in fake.posts() if s.path == "/v1/payment_intents"]
    assert first.form["payment_method_options[card][moto]"] == "true"
    assert first.form["customer"] == "cus_fake_1"

    # the second call: the saved card chosen, Stripe.js collects nothing
    _to_step4(page, "50.00")
    saved = page.get_by_label("Kofi Mensah: Visa •••• 4242", exact=False)
    expect(saved).to_be_visible()
    _press(page, saved, "Space")
    expect(saved).to_be_checked()
    _press(page, page.get_by_role("button", name="Charge $50.00"))
    expect(page.locator("#done")).to_contain_text("is taken")

    _, second = [s for s in fake.posts() if s.path == "/v1/payment_intents"]
    assert (second.form["customer"], second.form["payment_method"]) == (
        "cus_fake_1",
        "pm_card_visa",
    )
    assert second.form["off_session"] == "true"
    assert second.form["amount"] == "5000"
    assert len([s for s in fake.posts() if s.path == "/v1/customers"]) == 1
    with app.app_context():
        payments = db.session.scalars(select(Payment).order_by(Payment.id)).all()
        assert [p.total_minor for p in payments] == [10_000, 5_000]
        assert all(c.status.value == "succeeded" for p in payments for c in p.charges)
        method = db.session.scalars(select(SavedMethod)).one()
        assert {t.method_ref for t in method.tokens} == {"pm_card_visa"}
        (consent,) = method.consents
        assert (consent.scope, consent.how) == (
            ConsentScope.FUTURE_FIRM_INITIATED,
            ConsentHow.STAFF_PHONE,
        )
    assert not page.watch.console_errors and not page.watch.page_errors
    app.extensions.pop(HTTP_CLIENT_EXTENSION, None)


def test_a_bank_debit_by_phone_on_stripe_waits_for_microdeposits(
    make_page: Any, live_server: LiveServer, book: Book
) -> None:
    app = live_server.app
    fake = FakeStripe()
    fake.router = waiting_for_deposits
    app.extensions[HTTP_CLIENT_EXTENSION] = fake
    with app.app_context():
        firm = db.session.scalars(select(Firm)).one()
        for account in db.session.scalars(select(MerchantAccount)):
            account.gateway = "stripe"
        app.config.update(
            STRIPE_API_BASE="https://api.stripe.com",
            STRIPE_SECRET_KEY=SECRET_KEY,
            STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            STRIPE_ACCOUNTS={},
        )
        make_person(firm, "sam@okafor.example", role="staff", mfa=False)
        db.session.commit()
    page = make_page()
    page.route(
        "https://js.stripe.com/v3/",
        lambda route: route.fulfill(body=FAKE_STRIPE_JS, content_type="application/javascript"),
    )
    page.goto(live_server.url + "/console/sign-in")
    _type(page, "#email", "sam@okafor.example")
    _type(page, "#password", PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    _to_step4(page, "100.00")
    expect(page.locator("#fake-element")).to_be_visible()
    expect(page.locator("#bank-on-stripe")).to_be_hidden()  # a card is chosen first

    _type(page, "#payer_name", "Kofi Mensah")
    _type(page, "#payer_email", "kofi@example.com")
    bank = page.get_by_role("radio", name="Bank account (ACH)")
    _press(page, bank, "Space")
    expect(bank).to_be_checked()
    # the bank account's part, with how Stripe checks it, replaces Stripe's card form
    expect(page.locator("#bank-on-stripe")).to_be_visible()
    expect(page.locator("#fake-element")).to_be_hidden()
    _type(page, "#account_holder", "Kofi Mensah")
    _type(page, "#routing_number", "110000000")
    _type(page, "#account_number", "000123456789")
    page.select_option("#authorised_by", "recorded_call")
    _press(page, page.get_by_role("button", name="Charge $100.00"))
    expect(page.locator("#verify-bank")).to_contain_text("nothing is debited yet")

    made, confirmed = fake.posts()
    assert made.path == "/v1/payment_methods"
    assert made.form["us_bank_account[account_number]"] == "000123456789"
    assert made.form["billing_details[email]"] == "kofi@example.com"
    assert confirmed.form["mandate_data[customer_acceptance][type]"] == "offline"
    with app.app_context():
        payment = db.session.scalars(select(Payment)).one()
        assert [c.status.value for c in payment.charges] == ["created"]
    assert not page.watch.console_errors and not page.watch.page_errors
