"""Make a payment step 4a on a Stripe account in a real browser: static/js/stripe-pay.js mounts
the Payment Element (a stand-in Stripe.js served for js.stripe.com: no network here), posts
only the PaymentMethod id it made, and the server charges it at Stripe (the SDK's HTTP seam)
as a mail/telephone order."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from portal.db import db
from portal.firms.models import Firm, MerchantAccount
from portal.gateways.stripe import HTTP_CLIENT_EXTENSION
from portal.payments.models import Payment, PaymentSource
from tests.browser.conftest import Book, LiveServer
from tests.browser.test_make_payment import _press, _type
from tests.console.conftest import PASSWORD, make_person
from tests.gateways.conftest import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, FakeStripe

#: Stripe.js as far as stripe-pay.js uses it: the element mounts, and gives pm_card_visa.
FAKE_STRIPE_JS = """
window.Stripe = function (key) {
  window.stripeKey = key;
  return {
    elements: function (options) {
      window.elementsOptions = options;
      return {
        create: function () {
          return { mount: function (el) {
            var frame = document.createElement("p");
            frame.id = "fake-element";
            frame.textContent = "Stripe card element";
            el.appendChild(frame);
          } };
        },
        submit: function () { return Promise.resolve({}); },
      };
    },
    createPaymentMethod: function () {
      return Promise.resolve({ paymentMethod: { id: "pm_card_visa" } });
    },
  };
};
"""


def test_a_card_by_phone_through_the_payment_element(
    make_page: Any, live_server: LiveServer, book: Book
) -> None:
    app = live_server.app
    app.config.update(
        STRIPE_API_BASE="https://api.stripe.com",
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_ACCOUNTS={},
    )
    fake = FakeStripe()
    app.extensions[HTTP_CLIENT_EXTENSION] = fake
    with app.app_context():
        firm = db.session.scalars(select(Firm)).one()
        for account in db.session.scalars(select(MerchantAccount)):
            account.gateway = "stripe"
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
    _press(page, page.get_by_role("link", name="Make a payment"))
    _type(page, "#invoice", "INV-1041")
    page.keyboard.press("Enter")
    _press(page, page.get_by_label("INV-1041"), "Space")
    _press(page, page.get_by_role("button", name="Allocate the selected lines"))
    _type(page, "#total", "1200.50")
    page.keyboard.press("Enter")
    expect(page.locator("#preview")).to_contain_text("Total $1,200.50")

    # step 4a: Stripe's element instead of our card fields
    expect(page.locator("#fake-element")).to_be_visible()
    assert page.locator("#card_number").count() == 0
    assert page.evaluate("window.stripeKey") == PUBLISHABLE_KEY
    assert page.evaluate("window.elementsOptions.paymentMethodTypes") == ["card"]
    _type(page, "#payer_name", "Ada Mensah")
    _press(page, page.get_by_role("button", name="Charge $1,200.50"))
    expect(page.locator("#done")).to_contain_text("is taken")

    with app.app_context():
        payment = db.session.scalars(select(Payment)).one()
        assert payment.source is PaymentSource.STAFF
        assert [c.gateway for c in payment.charges] == ["stripe"]
    (sent,) = [s for s in fake.posts() if s.path == "/v1/payment_intents"]
    assert sent.form["payment_method"] == "pm_card_visa"
    assert sent.form["payment_method_options[card][moto]"] == "true"
    assert not page.watch.console_errors and not page.watch.page_errors
