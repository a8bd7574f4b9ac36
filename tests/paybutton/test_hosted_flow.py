"""The hosted pay page's way back and its hints: "Change" keeps what was typed, the trust form
asks for a matter number, a retainer typed under "Pay your invoice" is pointed at trust, and
every hosted page carries the pop-up's close button (shown by script when there is an opener).
"""

from __future__ import annotations

import pytest

from portal.paybutton.services import reads_like_trust
from tests.paybutton import test_pages
from tests.paybutton.test_pages import PAYER, review, start
from tests.payments.test_views import Browser, location, text_of

browser = test_pages.browser
books = test_pages.books


def test_change_goes_back_to_the_form_with_every_value_kept(browser: Browser, books) -> None:
    firm = books["firm"]
    shown = review(browser, firm.slug, reference="INV-1001", amount="120.50")
    assert shown.status_code == 200

    back = browser.form(shown, "change").submit()

    assert back.status_code == 200
    form = browser.form(back, "public-pay")
    assert form.value("name") == PAYER["name"]
    assert form.value("email") == PAYER["email"]
    assert form.value("reference") == "INV-1001"
    assert form.value("amount") == "120.50"
    assert "Pay your invoice" in text_of(back.text)


def test_the_trust_form_asks_for_a_matter_number(browser: Browser, books) -> None:
    firm = books["firm"]
    firm.public_trust_deposits = True
    page = text_of(browser.get(f"/pay/{firm.slug}?kind=trust").text)
    assert "Matter number" in page
    assert "Invoice or matter number" not in page
    assert "Invoice or matter number" in text_of(browser.get(f"/pay/{firm.slug}").text)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Retainer for Delgado", True),
        ("deposit", True),
        ("Anticipo Delgado", True),
        ("2024-0117", True),
        ("Matter 17", True),
        ("INV-1041", False),
        ("1041", False),
        ("Invoice 2024", False),
    ],
)
def test_what_reads_like_trust(reference: str, expected: bool) -> None:
    assert reads_like_trust(reference) is expected


def test_a_retainer_under_pay_your_invoice_is_pointed_at_trust(browser: Browser, books) -> None:
    firm = books["firm"]
    firm.public_trust_deposits = True
    shown = review(browser, firm.slug, reference="Retainer for Delgado", amount="500")
    assert "Deposit to trust instead" in text_of(shown.text)

    # the suggestion's button opens the trust form with the values kept
    change = browser.form(shown, "change")
    change.fields.insert(0, ("kind", "trust"))
    trust = change.submit()
    assert "Deposit to trust" in text_of(trust.text)
    assert browser.form(trust, "public-pay").value("amount") == "500.00"

    # no suggestion for an invoice number, nor where the firm takes no public deposits
    assert "Deposit to trust instead" not in text_of(
        review(browser, firm.slug, reference="INV-1001", amount="5").text
    )
    firm.public_trust_deposits = False
    assert "Deposit to trust instead" not in text_of(
        review(browser, firm.slug, reference="Retainer", amount="5").text
    )


def test_every_hosted_page_carries_the_close_button(browser: Browser, books) -> None:
    firm = books["firm"]
    firm.website_origins = ["https://www.example-firm.test"]
    page = browser.get(f"/pay/{firm.slug}").text
    assert 'id="popup-close" hidden' in page
    assert 'data-origins="https://www.example-firm.test"' in page
    assert "/static/js/paybutton-close.js" in page
    assert start(browser, firm.slug) is not None


def test_the_hosted_page_sends_the_authentication_card_to_the_test_bank(
    browser: Browser, books, session
) -> None:
    firm = books["firm"]
    _, done = test_pages.pay(
        browser,
        firm.slug,
        details={**test_pages.VISA, "card_number": "4000 0025 0000 3155"},
        reference="INV-1001",
        amount="100",
    )
    assert done.status_code == 303
    bank_path = location(done)
    assert "/authenticate/" in bank_path
    bank = browser.get(bank_path)
    assert "Sandbox test bank" in text_of(bank.text)
    answer = browser.form(bank, "test-bank")
    answer.fields.append(("answer", "approve"))
    paid = answer.submit()
    again = answer.submit()  # a double submit
    assert location(paid) == location(again)
    assert "/receipts/" in location(paid)
    (payment,) = test_pages.payments_of(firm.id)
    assert [c.status.value for c in payment.charges] == ["succeeded"]
    # another browser cannot reach this payment's bank page
    assert Browser(browser.client.application.test_client()).get(bank_path).status_code == 404
