"""Make a payment in a real browser, with the keyboard alone: a card taken by phone for a new
payer with "Save payer" (consent to future payments), then a second payment choosing the saved
card with no card typed; then, from step 4a, the client's saved payers and the card removed
after a confirmation; axe on step 4, the payers page and the confirmation at 1280 and 390
pixels wide."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from portal.billing.models import Client
from portal.db import db
from portal.firms.models import Firm
from portal.gateways.base import Instrument
from portal.payers import services as payers
from portal.payers.models import ConsentHow, ConsentScope, MethodKind, SavedMethod
from portal.payments.models import Payment, PaymentSource
from tests.browser.conftest import Book, LiveServer
from tests.browser.test_make_payment import _press, _type
from tests.console.conftest import PASSWORD, make_person

NARROW = {"width": 390, "height": 844}


def _to_step4(page: Any, amount: str) -> None:
    """From anywhere in the console: search INV-1041, tick it, allocate `amount`, preview."""
    _press(page, page.get_by_role("link", name="Make a payment"))
    _type(page, "#invoice", "INV-1041")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=2, name="Open invoices")).to_be_visible()
    _press(page, page.get_by_label("INV-1041"), "Space")
    _press(page, page.get_by_role("button", name="Allocate the selected lines"))
    _type(page, "#allocate tbody input >> nth=0", amount)
    page.keyboard.press("Enter")
    expect(page.locator("#preview")).to_be_visible()


def test_save_payer_then_pay_with_the_saved_card_by_keyboard(
    make_page: Any, live_server: LiveServer, book: Book, axe: Any
) -> None:
    # CSP bypassed only so that axe (the accessibility checker) can be injected.
    page = make_page(bypass_csp=True)
    with live_server.app.app_context():
        firm = db.session.scalars(select(Firm)).one()
        make_person(firm, "sam@okafor.example", role="staff", mfa=False)
        db.session.commit()
    page.goto(live_server.url + "/console/sign-in")
    _type(page, "#email", "sam@okafor.example")
    _type(page, "#password", PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")

    # the first call: a new payer, a card typed, "Save payer" for future payments
    _to_step4(page, "100.00")
    assert axe(page) == []
    # only what a card for a new payer needs shows: no bank account, no consent words yet
    expect(page.locator("#card_number")).to_be_visible()
    expect(page.locator("#routing_number")).to_be_hidden()
    expect(page.locator("#consent_scope")).to_be_hidden()
    _type(page, "#payer_name", "Kofi Mensah")
    _type(page, "#payer_email", "kofi@example.com")
    _type(page, "#card_number", "4242 4242 4242 4242")
    _type(page, "#card_expiry", "12/40")
    _type(page, "#card_cvc", "123")
    _type(page, "#card_name", "Kofi Mensah")
    _press(page, page.locator("#save_payer"), "Space")
    expect(page.locator("#consent_scope")).to_be_visible()
    future = page.get_by_label("Future payments the firm initiates", exact=False)
    _press(page, future, "Space")
    expect(future).to_be_checked()
    _type(page, "#receipts", "kofi@example.com")
    _press(page, page.get_by_role("button", name="Charge $100.00"))
    expect(page.locator("#done")).to_contain_text("is taken")

    # the second call: the saved card, nothing typed but the receipt and the note
    _to_step4(page, "50.00")
    saved = page.get_by_label("Kofi Mensah: Visa •••• 4242", exact=False)
    expect(saved).to_be_visible()
    assert axe(page) == []
    page.set_viewport_size(NARROW)
    assert axe(page) == []
    # the allocation's seven columns become one card per invoice: nothing runs off the phone
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    page.set_viewport_size({"width": 1280, "height": 800})
    _press(page, saved, "Space")
    expect(saved).to_be_checked()
    # a card saved for future payments: no new payer's part, no words to read again
    expect(page.locator("#payer_name")).to_be_hidden()
    expect(page.locator("#phone_consent")).to_be_hidden()
    _type(page, "#receipts", "office@example.org")
    _type(page, "#ar_note", "Second call")
    _press(page, page.get_by_role("button", name="Charge $50.00"))
    expect(page.locator("#done")).to_contain_text("is taken")
    expect(page.locator("#done")).to_contain_text("office@example.org")

    # the client's saved payers, from step 4a, and the card removed after a confirmation
    _to_step4(page, "10.00")
    _press(page, page.get_by_role("link", name="See this client's saved payers", exact=False))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Saved payers of")
    expect(page.locator("table.lines")).to_contain_text("Future payments the firm starts")
    for viewport in (NARROW, {"width": 1280, "height": 800}):
        page.set_viewport_size(viewport)
        assert axe(page) == []
    _press(page, page.get_by_role("link", name="Remove Visa •••• 4242"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Remove a saved method")
    assert axe(page) == []
    _press(page, page.get_by_role("button", name="Remove this method"))
    expect(page.get_by_role("status").filter(has_text="is removed")).to_be_visible()
    expect(page.locator("table.lines")).to_have_count(0)

    with live_server.app.app_context():
        first, second = db.session.scalars(select(Payment).order_by(Payment.id)).all()
        assert (first.total_minor, second.total_minor) == (10_000, 5_000)
        assert second.source is PaymentSource.STAFF and second.staff_user_id is not None
        assert {c.status.value for c in second.charges} == {"succeeded"}
        method = db.session.scalars(select(SavedMethod)).one()
        assert method.last4 == "4242" and method.removed_at is not None
        (consent,) = method.consents
        assert consent.scope is ConsentScope.FUTURE_FIRM_INITIATED
        assert consent.how is ConsentHow.STAFF_PHONE
        assert "future payments" in consent.words and "$100.00" in consent.words
    assert not page.watch.console_errors and not page.watch.page_errors


def test_step_four_shows_only_the_parts_the_choices_need(
    make_page: Any, live_server: LiveServer, book: Book
) -> None:
    """make-payment.js: a method kept for one payment at a time shows the words to read, the
    new payer's part goes while a saved method is chosen, a bank account replaces the card."""
    with live_server.app.app_context():
        firm = db.session.scalars(select(Firm)).one()
        make_person(firm, "sam@okafor.example", role="staff", mfa=False)
        client = db.session.get(Client, book.client_id)
        assert client is not None
        payer = payers.payer_once(firm_id=firm.id, client=client, name="Kofi Mensah", email=None)
        payers.save_method(
            payer=payer,
            kind=MethodKind.CARD,
            instrument=Instrument(card_number="4242424242424242", card_expiry="12/40"),
            currency="USD",
            consent=payers.ConsentGiven(
                words="I authorize the firm to keep this card for this payment only.",
                how=ConsentHow.STAFF_PHONE,
                scope=ConsentScope.THIS_PAYMENT,
            ),
        )
        db.session.commit()
    page = make_page()
    page.goto(live_server.url + "/console/sign-in")
    _type(page, "#email", "sam@okafor.example")
    _type(page, "#password", PASSWORD)
    page.keyboard.press("Enter")
    _to_step4(page, "25.00")

    # a new payer comes first: no words to read for a saved card
    expect(page.locator("#payer_name")).to_be_visible()
    expect(page.locator("#phone_consent")).to_be_hidden()
    saved = page.get_by_label("Kofi Mensah: Visa •••• 4242", exact=False)
    _press(page, saved, "Space")
    expect(page.locator("#phone_consent")).to_be_visible()
    expect(page.locator("#payer_name")).to_be_hidden()
    expect(page.locator("#card_number")).to_be_hidden()

    # back to a new payer, who pays from a bank account
    _press(page, page.get_by_label("A new payer", exact=False), "Space")
    expect(page.locator("#phone_consent")).to_be_hidden()
    _press(page, page.get_by_role("radio", name="Bank account (ACH)"), "Space")
    expect(page.locator("#routing_number")).to_be_visible()
    expect(page.locator("#authorised_by")).to_be_visible()
    expect(page.locator("#card_number")).to_be_hidden()

    # the server still says what a choice misses: the saved card without the payer's word
    _press(page, saved, "Space")
    _press(page, page.get_by_role("button", name="Charge $25.00"))
    expect(page.locator("#phone_consent")).to_be_visible()
    expect(page.get_by_role("alert")).to_be_visible()
    assert not page.watch.page_errors
    assert [e for e in page.watch.console_errors if "422" not in e] == []
