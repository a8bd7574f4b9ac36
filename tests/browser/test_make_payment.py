"""Make a payment in a real browser, with the keyboard alone: two searches gathered into one
selection, a total auto-applied with a trust deposit typed by hand, and a card taken by phone."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from portal.db import db
from portal.firms.models import Firm
from portal.payments.models import Payment, PaymentSource
from tests.browser.conftest import Book, LiveServer
from tests.console.conftest import PASSWORD, make_person


def _type(page: Any, selector: str, text: str) -> None:
    page.locator(selector).focus()
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.keyboard.type(text)


def _press(page: Any, locator: Any, key: str = "Enter") -> None:
    locator.focus()
    page.keyboard.press(key)


def test_the_four_steps_by_keyboard(
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

    # step 1 and 2: search by invoice number, tick it
    _press(page, page.get_by_role("link", name="Make a payment"))
    expect(page.get_by_role("heading", level=2, name="Search criteria")).to_be_visible()
    _type(page, "#invoice", "INV-1041")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=2, name="Open invoices")).to_be_visible()
    _press(page, page.get_by_label("INV-1041"), "Space")
    _press(page, page.get_by_role("button", name="Keep these ticks"))

    # a second search, by client: the first tick is kept; tick the other invoice and the matter
    _press(page, page.get_by_role("link", name="Change the search criteria"))
    _type(page, "#invoice", "")
    _type(page, "#client", "Ada")
    page.keyboard.press("Enter")
    expect(page.get_by_label("INV-1041")).to_be_checked()
    _press(page, page.get_by_label("INV-1057"), "Space")
    _press(page, page.get_by_label("2024-0117 Mensah v. Harbour Holdings"), "Space")
    assert axe(page) == []
    _press(page, page.get_by_role("button", name="Allocate the selected lines"))

    # step 3: a total over both invoices, oldest due first, and a deposit typed by hand
    expect(page.get_by_role("heading", level=2, name="Allocate")).to_be_visible()
    _type(page, "#total", "1500.00")
    _type(page, f"#trust-{book.matter_id}", "250.00")
    page.keyboard.press("Enter")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Total $1,750.00")
    rows = page.locator("#allocate tbody tr")
    expect(rows.nth(0)).to_contain_text("INV-1041")
    expect(rows.nth(0)).to_contain_text("$1,200.50")
    expect(rows.nth(1)).to_contain_text("$299.50")  # INV-1057 gets the rest
    expect(rows.nth(1)).to_contain_text("$340.50")  # and that much stays owed

    assert axe(page) == []

    # step 4a: a card by phone, the receipt to a typed address, a note for the back office
    _type(page, "#payer_name", "Ada Mensah")
    _type(page, "#card_number", "4242 4242 4242 4242")
    _type(page, "#card_expiry", "12/40")
    _type(page, "#card_cvc", "123")
    _type(page, "#card_name", "Ada Mensah")
    _type(page, "#receipts", "ada@example.com")
    _type(page, "#ar_note", "Phone payment")
    _press(page, page.get_by_role("button", name="Charge $1,750.00"))
    expect(page.locator("#done")).to_contain_text("is taken")
    expect(page.locator("#done")).to_contain_text("ada@example.com")

    with live_server.app.app_context():
        payment = db.session.scalars(select(Payment)).one()
        assert payment.source is PaymentSource.STAFF
        assert payment.total_minor == 175_000
        assert len(payment.charges) == 2
    assert not page.watch.console_errors and not page.watch.page_errors
