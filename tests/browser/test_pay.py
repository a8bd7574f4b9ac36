"""A client pays from their link in a real browser: basket, review, confirm, receipt.

The firm's accounts are on the sandbox gateway, so the card and bank details typed here are
the sandbox's test numbers and no money moves; ACH debits stay processing until the
`sandbox-settle` command plays the part of the banks.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Book, LiveServer

CARD = {"number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123"}
BANK = {"routing": "110000000", "account": "000123456789"}
#: The book's open invoices in full plus a $500.00 trust deposit.
TOTAL = "$2,340.50"


class Portal:
    """What a client does in the pay flow, in the words of the pages' labels and buttons."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def open(self, link_url: str) -> None:
        self.page.goto(link_url)
        expect(self.page.get_by_role("heading", level=1)).to_be_visible()

    def go_to_basket(self, tick: tuple[str, ...] = ("INV-1041", "INV-1057")) -> None:
        """From the matter page the link opened, follow its "Pay" button, then tick the
        invoices the client pays (the basket ticks none by itself); pay.js fills in what is
        owed on each."""
        self.page.get_by_role("link", name="Pay", exact=True).click()
        expect(self.page.get_by_role("heading", name="Make a payment")).to_be_visible()
        for number in tick:
            self.invoice(number).check()

    def invoice(self, number: str) -> Any:
        return self.page.get_by_role("checkbox", name=f"Invoice {number}")

    def deposit(self, amount: str) -> None:
        self.page.get_by_role("checkbox", name="Deposit into trust").check()
        self.page.get_by_role("textbox", name="Deposit amount").fill(amount)

    def review(self, method: str) -> None:
        # The ACH choice's name goes on with a hint ("takes a few business days to clear").
        self.page.get_by_role("radio", name=re.compile(f"^{re.escape(method)}")).check()
        self.page.get_by_role("button", name="Review payment").click()
        expect(self.page.get_by_role("heading", name="Review your payment")).to_be_visible()

    def pay_by_card(self, amount: str) -> None:
        self.page.get_by_label("Card number").fill(CARD["number"])
        self.page.get_by_label("Expiry (MM/YY)").fill(CARD["expiry"])
        self.page.get_by_label("Security code (CVC)").fill(CARD["cvc"])
        self.page.get_by_label("Name on the card").fill("Ada Mensah")
        self.page.get_by_role("button", name=f"Pay {amount}").click()

    def pay_by_bank(self, amount: str) -> None:
        self.page.get_by_label("Account holder's name").fill("Ada Mensah")
        self.page.get_by_label("Routing number (9 digits)").fill(BANK["routing"])
        self.page.get_by_label("Account number").fill(BANK["account"])
        self.page.get_by_role("checkbox", name="I agree to this authorization.").check()
        self.page.get_by_role("button", name=f"Pay {amount}").click()

    def charge(self, account: str) -> Any:
        """The receipt's or review's section for one destination account."""
        return self.page.get_by_role("region", name=account)


def assert_clean(page: Any, server: LiveServer) -> None:
    assert page.watch.console_errors == []
    assert page.watch.page_errors == []
    assert page.watch.foreign_requests(server.url) == []


def expect_receipt(portal: Portal, *, status: str) -> None:
    """Both destinations are on the receipt with their lines, each in `status`."""
    operating = portal.charge("Operating account")
    expect(operating.get_by_role("row", name=re.compile("Invoice INV-1041"))).to_contain_text(
        "$1,200.50"
    )
    expect(operating.get_by_role("row", name=re.compile("Invoice INV-1057"))).to_contain_text(
        "$640.00"
    )
    expect(operating.get_by_role("row", name=re.compile("To Operating account"))).to_contain_text(
        "$1,840.50"
    )
    expect(operating.locator(".badge")).to_have_text(status)
    trust = portal.charge("Trust account (IOLTA)")
    expect(trust.get_by_role("row", name=re.compile("Trust deposit"))).to_contain_text("$500.00")
    expect(trust.locator(".badge")).to_have_text(status)


def fits_phone(page: Any) -> bool:
    """No sideways scrolling on a 360 px wide screen."""
    return page.evaluate("document.documentElement.scrollWidth") <= 360


def test_card_pays_two_invoices_and_a_trust_deposit(phone_page: Any, book: Book) -> None:
    page = phone_page
    portal = Portal(page)
    portal.open(book.link())

    # given a basket of both open invoices (ticked by the client, filled in full) and a deposit
    portal.go_to_basket()
    expect(portal.invoice("INV-1041")).to_be_checked()
    expect(
        page.locator("#invoice-" + portal.invoice("INV-1041").get_attribute("value"))
    ).to_have_value("1200.50")
    portal.deposit("500.00")
    assert fits_phone(page)

    # when the client reviews it: one charge per destination account, nothing charged yet
    portal.review("Card")
    assert fits_phone(page)
    expect(portal.charge("Operating account")).to_contain_text("Invoice INV-1041")
    expect(portal.charge("Trust account (IOLTA)")).to_contain_text("$500.00")
    expect(page.get_by_text("2 charges, one per account")).to_be_visible()

    # and confirms with the sandbox's test card
    portal.pay_by_card(TOTAL)

    # then the receipt lists both destinations, paid
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: your payment is complete")
    assert re.fullmatch(r"/payments/[\w-]+", book.server.path(page.url))
    expect(page.locator('dt:text-is("Total paid") + dd')).to_have_text(TOTAL)
    expect(page.locator('dt:text-is("Paid by") + dd')).to_contain_text("4242")
    expect_receipt(portal, status="Paid")
    assert fits_phone(page)
    assert_clean(page, book.server)


def test_ach_processes_until_the_bank_settles(page: Any, book: Book) -> None:
    portal = Portal(page)
    portal.open(book.link())
    portal.go_to_basket()
    portal.deposit("500.00")

    # when the client pays by bank debit, authorizing it
    portal.review("Bank account (ACH)")
    expect(page.get_by_text("I authorize Okafor & Lindqvist LLP to debit")).to_be_visible()
    portal.pay_by_bank(TOTAL)

    # then the receipt says it is processing
    expect(page.get_by_role("heading", level=1)).to_have_text("Your payment is processing")
    expect(page.get_by_text("Processing: we will email you when it clears.")).to_be_visible()
    expect_receipt(portal, status="Processing")

    # when the banks settle the debits (the operator's command, on the server's database)
    with book.server.app.app_context():
        result = book.server.app.test_cli_runner().invoke(args=["sandbox-settle", "--after", "0"])
    assert result.exit_code == 0, result.output
    assert "Settled 2 sandbox ACH debit(s)." in result.output

    # then the same receipt, reloaded, shows the payment complete
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: your payment is complete")
    expect_receipt(portal, status="Paid")
    assert_clean(page, book.server)


def tab_to(page: Any, target: Any, *, limit: int = 60) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{target} cannot be reached with Tab in {limit} presses")


def test_card_payment_by_keyboard_only(page: Any, book: Book) -> None:
    portal = Portal(page)
    portal.open(book.link())

    # the first Tab on a page reaches the skip link; the matter's "Pay" button opens the basket
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    tab_to(page, page.get_by_role("link", name="Pay", exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Make a payment")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()

    # tick the trust deposit (the page suggests the shortfall, $250.00) with Space
    deposit = page.get_by_role("checkbox", name="Deposit into trust")
    tab_to(page, deposit)
    page.keyboard.press("Space")
    expect(deposit).to_be_checked()
    expect(page.get_by_role("textbox", name="Deposit amount")).to_have_value("250.00")

    # Card is already chosen; reach "Review payment" and press Enter
    expect(page.get_by_role("radio", name="Card", exact=True)).to_be_checked()
    tab_to(page, page.get_by_role("button", name="Review payment"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Review your payment")).to_be_visible()

    # type the card details, moving between the boxes with Tab
    for label, text in (
        ("Card number", CARD["number"]),
        ("Expiry (MM/YY)", CARD["expiry"]),
        ("Security code (CVC)", CARD["cvc"]),
        ("Name on the card", "Ada Mensah"),
    ):
        tab_to(page, page.get_by_label(label))
        page.keyboard.type(text)
    pay = page.get_by_role("button", name="Pay $250.00")  # no invoice was ticked
    tab_to(page, pay)
    page.keyboard.press("Enter")

    # then the receipt
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: your payment is complete")
    expect(portal.charge("Trust account (IOLTA)")).to_contain_text("$250.00")
    assert_clean(page, book.server)
