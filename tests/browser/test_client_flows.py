"""The client's flows of issue #15 in chromium, at 390 px and 1280 px, with axe in English and
Spanish: the basket's first screen, the review's card fields, a decline that comes back to the
review, the sandbox's 3-D Secure test bank, the grace after a link expires and the fresh link
that keeps the basket, and the hosted page's Change, trust hint and pop-up close button.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from portal import clock
from portal.db import db
from portal.firms.models import Firm
from portal.links import services as links
from portal.links.models import Link, LinkDelivery
from tests.browser.conftest import DESKTOP, Book
from tests.browser.test_accessibility import DECLINED_CARD, Walk
from tests.browser.test_pay import CARD, Portal

PHONE_390 = {"width": 390, "height": 844}
AUTH_CARD = "4000 0025 0000 3155"


@pytest.fixture(params=[PHONE_390, DESKTOP], ids=["390", "1280"])
def walk(request: pytest.FixtureRequest, make_page: Any, axe: Any) -> Walk:
    return Walk(make_page(viewport=request.param, bypass_csp=True), axe)


def on_first_screen(page: Any, target: Any) -> bool:
    """The whole of `target` is inside the viewport as the page stands (no scrolling)."""
    box = target.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def to_spanish(page: Any) -> None:
    page.get_by_role("link", name=re.compile("español", re.IGNORECASE)).first.click()
    expect(page.locator("html")).to_have_attribute("lang", re.compile("^es"))


def type_card(page: Any, number: str) -> None:
    """Type the card and press Pay, by the boxes' ids: the same in every language."""
    page.locator("#card_number").fill(number)
    page.locator("#card_expiry").fill(CARD["expiry"])
    page.locator("#card_cvc").fill(CARD["cvc"])
    page.locator("#card_name").fill("Ada Mensah")
    page.locator("[data-pay-button]").click()


def review_one_invoice(page: Any, book: Book) -> None:
    """Open the book's link, tick INV-1057 ($640.00) and review it, to pay by card."""
    portal = Portal(page)
    portal.open(book.link())
    portal.go_to_basket(tick=("INV-1057",))
    portal.review("Card")


def last_link(book: Book) -> Link:
    with book.server.app.app_context():
        link = db.session.query(Link).order_by(Link.id.desc()).first()
        assert link is not None
        db.session.expunge(link)
        return link


def expire(book: Book, public_id: str, *, ago: dt.timedelta) -> None:
    with book.server.app.app_context():
        link = db.session.query(Link).filter_by(public_id=public_id).one()
        link.expires_at = clock.now() - ago
        db.session.commit()


# -- basket and review ---------------------------------------------------------------------------


@pytest.mark.parametrize("scripts", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("viewport", [PHONE_390, DESKTOP], ids=["390", "1280"])
def test_the_basket_shows_the_total_and_one_primary_action_on_the_first_screen(
    make_page: Any, book: Book, viewport: dict[str, int], scripts: bool
) -> None:
    page = make_page(viewport=viewport, java_script_enabled=scripts)
    portal = Portal(page)
    portal.open(book.link())
    portal.go_to_basket(tick=())

    # nothing chosen for the client: no invoice ticked, no amount on any line
    assert page.locator("input[type=checkbox]:checked").count() == 0
    for box in page.locator(".pay-line input.input--amount").all():
        assert box.input_value() == ""
    # one primary button, and it and the figure due are on the first screen (sticky summary)
    primaries = page.locator(".button--primary:visible")
    expect(primaries).to_have_count(1)
    assert on_first_screen(page, page.get_by_role("button", name="Review payment"))
    assert on_first_screen(page, page.locator(".pay-summary__due, .pay-live-total").first)

    if scripts:
        # ticking fills in what is owed, and the live total follows; unticking clears it
        portal.invoice("INV-1057").check()
        expect(page.get_by_text("Total of this payment: $640.00")).to_be_visible()
        assert on_first_screen(page, page.get_by_text("Total of this payment: $640.00"))
        portal.invoice("INV-1057").uncheck()
        assert (
            page.locator(
                f"#invoice-{portal.invoice('INV-1057').get_attribute('value')}"
            ).input_value()
            == ""
        )


@pytest.mark.parametrize("viewport", [PHONE_390, DESKTOP], ids=["390", "1280"])
def test_the_reviews_card_fields_are_on_the_first_screen(
    make_page: Any, book: Book, viewport: dict[str, int]
) -> None:
    page = make_page(viewport=viewport)
    portal = Portal(page)
    portal.open(book.link())
    portal.go_to_basket()
    portal.deposit("500.00")
    portal.review("Card")
    for label in ("Card number", "Expiry (MM/YY)", "Security code (CVC)"):
        assert on_first_screen(page, page.get_by_label(label)), label


# -- kind failures and the test bank ------------------------------------------------------------


def test_a_decline_comes_back_to_the_review_in_english_and_spanish(walk: Walk, book: Book) -> None:
    page = walk.page
    review_one_invoice(page, book)
    type_card(page, DECLINED_CARD)

    expect(page.get_by_role("heading", level=1)).to_have_text("Review your payment")
    expect(page.locator("#error-summary")).to_contain_text(
        "Your card was declined. Nothing was charged. Check the card details, or use another card."
    )
    expect(page.get_by_text("Paid by")).to_have_count(0)
    expect(page.get_by_text("Print this receipt")).to_have_count(0)
    expect(page.get_by_label("Card number")).to_have_value("")
    expect(page.get_by_role("button", name="Pay $640.00")).to_be_visible()
    walk.check("review after a decline")

    # the same in Spanish (the switcher leads back to the basket, kept)
    to_spanish(page)
    page.get_by_role("button", name=re.compile("Revisar")).last.click()
    type_card(page, DECLINED_CARD)
    expect(page.locator("#error-summary")).to_contain_text("No se cobró nada.")
    walk.check("review after a decline (es)")
    walk.assert_clean()


@pytest.mark.parametrize("answer", ["Approve", "Fail"])
def test_the_authentication_card_goes_through_the_sandboxs_test_bank(
    walk: Walk, book: Book, answer: str
) -> None:
    page = walk.page
    review_one_invoice(page, book)
    type_card(page, AUTH_CARD)

    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm with your bank")
    expect(page.get_by_text("This page is the sandbox's test bank.")).to_be_visible()
    walk.check("test bank")
    page.get_by_role("button", name=answer, exact=True).click()

    if answer == "Approve":
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Thank you: your payment is complete"
        )
    else:
        expect(page.get_by_role("heading", level=1)).to_have_text("Review your payment")
        expect(page.locator("#error-summary")).to_contain_text(
            "Your bank did not confirm this payment."
        )
        walk.check("review after the bank failed it")
        # and in Spanish, the bank's page too
        to_spanish(page)
        page.get_by_role("button", name=re.compile("Revisar")).last.click()
        type_card(page, AUTH_CARD)
        expect(page.get_by_role("heading", level=1)).to_have_text("Confirme con su banco")
        walk.check("test bank (es)")
    walk.assert_clean()


# -- grace after expiry, and the fresh link's basket ----------------------------------------------


def test_a_review_confirmed_in_the_grace_and_a_basket_kept_for_the_fresh_link(
    walk: Walk, book: Book
) -> None:
    page = walk.page
    portal = Portal(page)
    portal.open(book.link())
    link = last_link(book)
    portal.go_to_basket(tick=("INV-1057",))
    portal.review("Card")

    # the link runs out while the card is typed (just after the review): the reviewed basket
    # may still be confirmed
    expire(book, link.public_id, ago=dt.timedelta(0))
    type_card(page, CARD["number"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: your payment is complete")
    expect(page.get_by_text(re.compile("you can still confirm"))).to_be_visible()
    walk.check("receipt in the grace")

    # another basket, reviewed on a new link that then expires past the grace
    portal.open(book.link())
    second = last_link(book)
    portal.go_to_basket(tick=("INV-1041",))
    portal.review("Card")
    expire(book, second.public_id, ago=dt.timedelta(hours=1))
    page.get_by_role("link", name="Change what you pay").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("This link has expired")
    expect(page.get_by_text("We kept the payment you were making")).to_be_visible()
    walk.check("expired, basket kept")
    page.get_by_role("button", name="Email me a fresh link").click()

    # the fresh link (from the outbox's delivery) opens the basket again
    with book.server.app.app_context():
        delivery = db.session.query(LinkDelivery).order_by(LinkDelivery.id.desc()).first()
        assert delivery is not None
        url = links.url_for_link(delivery.link)
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Make a payment")
    expect(page.get_by_text("We kept the payment you were making before")).to_be_visible()
    expect(portal.invoice("INV-1041")).to_be_checked()
    expect(portal.invoice("INV-1057")).to_have_count(0)  # paid in the grace above
    walk.check("fresh link's basket")
    to_spanish(page)
    walk.check("basket (es)")
    walk.assert_clean()


# -- the hosted pay page -------------------------------------------------------------------------


def hosted_review(page: Any, url: str, slug: str, reference: str) -> None:
    page.goto(f"{url}/pay/{slug}")
    page.locator("#name").fill("Grace Parent")
    page.locator("#email").fill("grace.parent.with.a.long.address@employer-of-the-payer.example")
    page.locator("#reference").fill(reference)
    page.locator("#amount").fill("500.00")
    page.locator("#public-pay button[type=submit]").click()


@pytest.mark.parametrize("language", ["en-US", "es-US"])
@pytest.mark.parametrize("viewport", [PHONE_390, DESKTOP], ids=["390", "1280"])
def test_the_hosted_page_change_trust_hint_and_close_button(
    make_page: Any, axe: Any, book: Book, viewport: dict[str, int], language: str
) -> None:
    with book.server.app.app_context():
        firm = db.session.query(Firm).one()
        firm.public_trust_deposits = True
        firm.website_origins = ["https://www.okafor-lindqvist.example"]
        db.session.commit()
        slug = firm.slug
    url = book.server.url
    # the firm's website stands in as a blank page: the pop-up keeps it as its opener
    opener = make_page(viewport=viewport, bypass_csp=True, locale=language)
    with opener.expect_popup() as opened:
        opener.evaluate(f"window.open('{url}/pay/{slug}', 'matterpay-{slug}')")
    page = opened.value
    walk = Walk(page, axe)
    page.wait_for_load_state()

    # a retainer typed under "Pay your invoice": the review suggests trust instead
    hosted_review(page, url, slug, "Retainer for Delgado")
    expect(page.locator("#suggest-trust")).to_be_visible()
    # the long email is never split mid-word: one line, cut with an ellipsis if it must be
    email = page.locator(".figures__token")
    line = float(email.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 24"))
    assert email.bounding_box()["height"] <= line * 1.5
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    walk.check("hosted review with the trust hint")

    # "Change" goes back with every value kept; the suggestion's button opens the trust form
    page.locator("#change").get_by_role("button").first.click()
    expect(page.locator("#reference")).to_have_value("Retainer for Delgado")
    expect(page.locator("#email")).to_have_value(
        "grace.parent.with.a.long.address@employer-of-the-payer.example"
    )
    hosted_review(page, url, slug, "Retainer for Delgado")
    page.locator("#suggest-trust button").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile("Deposit to trust|Depositar")
    )
    expect(page.locator("label[for=reference]")).to_have_text(
        re.compile("^(Matter number|Número de asunto)")
    )
    walk.check("hosted trust form from the hint")

    # the pop-up's close button returns to the site
    close = page.locator("#popup-close button")
    expect(close).to_be_visible()
    with page.expect_event("close"):
        # Clicked from a timer: the window closes inside the click, before Playwright's own
        # click call could return.
        close.evaluate("button => setTimeout(() => button.click(), 0)")
    assert page.is_closed()
    walk.assert_clean()
