"""The pay flow's pages the latest work changed pass axe-core (WCAG 2.2 A and AA) in English,
Spanish and French on a 390 px phone, and in English at 1280 px too: the basket with one
invoice ticked, the card review, the review after a declined card, the sandbox's 3-D Secure
test bank and the receipt after Approve, a paid receipt, the client's payment history, and the
hosted pay page's review opened in the site's language.

Every step goes by ids, names and classes, never by the buttons' English words, so the same
steps run in every language; each page's <html lang> is the client's language.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Book
from tests.browser.test_accessibility import DECLINED_CARD, Walk
from tests.browser.test_client_flows import AUTH_CARD, type_card
from tests.browser.test_languages import LANGUAGE_SCREENS, LOCALES, in_language, speak
from tests.browser.test_pay import CARD


@pytest.fixture
def walk(request: pytest.FixtureRequest, make_page: Any, axe: Any) -> Walk:
    """A page of the viewport the test is parametrized with (LANGUAGE_SCREENS)."""
    # add_script_tag inlines axe's text, which the portal's own CSP would refuse.
    return Walk(make_page(viewport=request.param, bypass_csp=True), axe)


def basket_with(page: Any, number: str) -> None:
    """The matter's basket (its "Pay" button) with the one invoice `number` ticked."""
    page.locator(".pay-action a.button--primary").click()
    expect(page.locator("form#basket")).to_be_visible()
    page.locator(".pay-line", has_text=number).locator("input[name=invoice]").check()
    page.locator("#method-card").check()


def review(page: Any) -> None:
    page.locator("#basket .pay-summary button[name=action][value=review]").click()
    expect(page.locator("form#confirm")).to_be_visible()


@LANGUAGE_SCREENS
def test_the_pay_flow_in_every_language(walk: Walk, book: Book, locale: str) -> None:
    lang = LOCALES[locale]
    slug = speak(book, locale)
    page = walk.page
    url = book.server.url
    page.goto(book.link())
    expect(page.locator("html")).to_have_attribute("lang", lang)

    # the basket with INV-1057 ticked (pay.js fills in what is owed), then its card review
    basket_with(page, "INV-1057")
    in_language(walk, "basket, one invoice ticked", lang)
    review(page)
    in_language(walk, "review (card)", lang)

    # the kind failure: the review again, with why, the card boxes empty
    type_card(page, DECLINED_CARD)
    expect(page.locator("form#confirm")).to_be_visible()
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#card_number")).to_have_value("")
    in_language(walk, "review after a decline", lang)

    # the sandbox's good card on the same review: the receipt, paid
    type_card(page, CARD["number"])
    expect(page.locator(".receipt-number")).to_be_visible()
    in_language(walk, "receipt (paid)", lang)

    # the other invoice with the authentication card: the test bank, then Approve's receipt
    page.goto(book.link())
    basket_with(page, "INV-1041")
    review(page)
    in_language(walk, "review (card, a four-figure amount)", lang)
    type_card(page, AUTH_CARD)
    expect(page.locator("form#test-bank")).to_be_visible()
    in_language(walk, "3-D Secure test bank", lang)
    page.locator("#test-bank button[name=answer][value=approve]").click()
    expect(page.locator(".receipt-number")).to_be_visible()
    in_language(walk, "receipt after the bank approved", lang)

    # both payments in the client's history
    page.goto(f"{url}/payments")
    expect(page.locator("table.history tbody tr").nth(1)).to_be_visible()
    in_language(walk, "payment history", lang)

    # the hosted pay page's review, opened in the site's language as the pay button does
    page.goto(f"{url}/pay/{slug}?lang={locale}")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.locator("#name").fill("Grace Parent")
    page.locator("#email").fill("grace@example.com")
    page.locator("#reference").fill("INV-1057")
    page.locator("#amount").fill("20")
    page.locator("#public-pay button[type=submit]").click()
    expect(page.locator("#card_number")).to_be_visible()
    in_language(walk, "hosted review (card)", lang)
    walk.assert_clean()
