"""Every client page passes axe-core under the WCAG 2.2 A and AA rules, in every state.

The pages are reached the way a client reaches them (their link, the pay flow's buttons, a
bad amount, a declined card, a dead link), on a desktop and on a 360 px phone, and axe-core
(the npm package, see conftest.AXE_SCRIPT) checks each one as shown. A test collects every
page's violations and fails listing them all, so one run shows the whole picture.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import render_template
from playwright.sync_api import expect

from portal import clock
from portal.db import db
from portal.firms.models import Firm
from portal.links.models import Link
from tests.browser.conftest import DESKTOP, PHONE, Book, LiveServer
from tests.browser.test_pay import BANK, CARD, Portal

DECLINED_CARD = "4000 0000 0000 0002"


class Walk:
    """Pages checked so far, with what axe found on each."""

    def __init__(self, page: Any, axe: Callable[[Any], list[str]]) -> None:
        self.page = page
        self.axe = axe
        self.found: dict[str, list[str]] = {}

    def check(self, name: str, *, heading: str | None = None) -> None:
        """Check the page now shown, after its first heading (if given) is on screen."""
        if heading is not None:
            expect(self.page.get_by_role("heading", level=1)).to_have_text(heading)
        self.found[name] = self.axe(self.page)

    def assert_clean(self) -> None:
        bad = {name: lines for name, lines in self.found.items() if lines}
        report = "\n".join(
            f"{name}:\n  " + "\n  ".join(lines) for name, lines in sorted(bad.items())
        )
        assert not bad, f"axe found WCAG A/AA violations:\n{report}"
        assert self.found  # something was checked


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def walk(request: pytest.FixtureRequest, make_page: Any, axe: Any) -> Walk:
    # add_script_tag inlines axe's text, which the portal's own CSP would refuse.
    return Walk(make_page(viewport=request.param, bypass_csp=True), axe)


def set_brand(book: Book, colour: str | None) -> None:
    with book.server.app.app_context():
        firm = db.session.query(Firm).one()
        firm.brand_colour = colour
        db.session.commit()


def test_statement_pages(walk: Walk, book: Book) -> None:
    page = walk.page
    page.goto(book.link())
    walk.check("matter", heading=book.matter_title)

    page.get_by_role("link", name="Your matters").first.click()
    walk.check("matters", heading="Your matters")

    page.goto(f"{book.server.url}/matters/{book.matter_id}/trust")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    walk.check("trust history")

    page.goto(f"{book.server.url}/pay")
    walk.check("basket", heading="Make a payment")
    walk.assert_clean()


# A firm's own colour heads every page and fills its buttons: a pale one, a mid grey (the
# hardest for choosing dark or light text on it) and a saturated one. Contrast does not
# depend on the screen's width, so the desktop suffices.
@pytest.mark.parametrize("brand", ["#f5c518", "#767676", "#e4002b", "#ffffff"])
def test_the_firms_colour_keeps_the_pages_readable(
    make_page: Any, axe: Any, book: Book, brand: str
) -> None:
    set_brand(book, brand)
    walk = Walk(make_page(bypass_csp=True), axe)
    portal = Portal(walk.page)
    portal.open(book.link())
    walk.check("matter", heading=book.matter_title)
    portal.go_to_basket()
    walk.check("basket", heading="Make a payment")
    portal.review("Card")
    walk.check("review", heading="Review your payment")
    walk.assert_clean()


def test_pay_by_card_in_every_state(walk: Walk, book: Book) -> None:
    page = walk.page
    portal = Portal(page)
    portal.open(book.link())
    portal.go_to_basket()
    walk.check("basket", heading="Make a payment")

    # a deposit amount that is not an amount: the basket comes back with the errors
    portal.deposit("12,34,5x")
    page.get_by_role("button", name="Review payment").click()
    expect(page.locator("#error-summary")).to_be_visible()
    walk.check("basket with errors", heading="Make a payment")

    portal.deposit("500.00")
    portal.review("Card")
    walk.check("review (card)")

    # the card details left out: the review comes back with the errors
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page.locator("#error-summary")).to_be_visible()
    walk.check("review with errors", heading="Review your payment")

    portal.pay_by_card("$2,340.50")
    walk.check("receipt (paid)", heading="Thank you: your payment is complete")
    walk.assert_clean()


def test_pay_by_bank_until_processing(walk: Walk, book: Book) -> None:
    page = walk.page
    portal = Portal(page)
    portal.open(book.link())
    portal.go_to_basket()
    portal.review("Bank account (ACH)")
    walk.check("review (ACH, with the mandate)", heading="Review your payment")
    portal.pay_by_bank("$1,840.50")
    walk.check("receipt (processing)", heading="Your payment is processing")
    walk.assert_clean()
    assert BANK  # the sandbox's test account was typed


def test_declined_card_and_the_pause_after_declines(walk: Walk, book: Book) -> None:
    page = walk.page
    portal = Portal(page)
    portal.open(book.link())
    portal.go_to_basket()
    portal.review("Card")
    decline(page)
    # a decline is no receipt: the review again, with why, the card boxes empty
    expect(page.locator("#error-summary")).to_contain_text("Your card was declined.")
    walk.check("review (declined)", heading="Review your payment")

    # one more decline than a link is allowed in an hour: the pause page (429)
    book.server.app.config["PAYMENT_FAILURES_PER_LINK_PER_HOUR"] = 1
    decline(page)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    walk.check("too many declines (429)")
    walk.assert_clean()


def decline(page: Any) -> None:
    page.get_by_label("Card number").fill(DECLINED_CARD)
    page.get_by_label("Expiry (MM/YY)").fill(CARD["expiry"])
    page.get_by_label("Security code (CVC)").fill(CARD["cvc"])
    page.get_by_label("Name on the card").fill("Ada Mensah")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()


def test_error_pages(walk: Walk, book: Book, live_server: LiveServer) -> None:
    page = walk.page
    url = live_server.url

    page.goto(f"{url}/matters")
    walk.check("401 no session", heading="Please open your link again")
    page.goto(f"{url}/no-such-page")
    walk.check("404 without a session", heading="Page not found")

    page.goto(book.link())
    page.goto(f"{url}/no-such-page")
    walk.check("404 with a session", heading="Page not found")

    # a form whose CSRF token is gone (as when a session has ended): 400, the generic page
    page.goto(f"{url}/pay")
    page.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    page.get_by_role("button", name="Review payment").click()
    walk.check("400 generic", heading="This request could not be handled")

    # a link that has expired, and one that the firm turned off
    dead = book.link(expires_in=60)
    with live_server.app.app_context():
        link = db.session.query(Link).order_by(Link.id.desc()).first()
        assert link is not None
        link.expires_at = clock.now() - dt.timedelta(seconds=1)
        db.session.commit()
    page.goto(dead)
    walk.check("410 expired link", heading="This link has expired")
    revoked = book.link()
    with live_server.app.app_context():
        link = db.session.query(Link).order_by(Link.id.desc()).first()
        assert link is not None
        link.revoked_at = clock.now()
        db.session.commit()
    page.goto(revoked)
    walk.check("410 revoked link", heading="This link is no longer active")

    # too many link openings from one address: 429
    live_server.app.config["RATELIMIT_LINK_OPEN"] = "1 per day"
    page.goto(book.link())
    page.goto(book.link())
    walk.check("429 too many requests", heading="Too many attempts")

    # the page of an unexpected error (500), exactly as the server renders it
    with live_server.app.test_request_context():
        crashed = render_template("errors/500.html")
    page.route(
        f"{url}/crash",
        lambda route: route.fulfill(status=500, body=crashed, content_type="text/html"),
    )
    page.goto(f"{url}/crash")
    walk.check("500", heading="Something went wrong on our side")
    walk.assert_clean()


# -- the keyboard alone ----------------------------------------------------------------------

#: What the browser shows around the element that has the keyboard focus.
FOCUS_STATE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {
    element: el.outerHTML.slice(0, 120),
    focusVisible: el.matches(":focus-visible"),
    outline: style.outlineStyle,
    outlineWidth: parseFloat(style.outlineWidth),
    outlineColor: style.outlineColor,
    // Wholly in the window (give or take the sub-pixel the browser's scrolling leaves).
    onScreen: box.width > 0 && box.height > 0 && box.top >= -1 && box.left >= -1
      && box.bottom <= window.innerHeight + 1 && box.right <= window.innerWidth + 1,
  };
}"""


def assert_focus_visible(page: Any) -> dict[str, Any]:
    """The focused element is on screen and drawn with the portal's focus ring.

    The ring (static/css/portal.css, :focus-visible) is a 3 px amber outline: at least 2 px
    thick all round, the area WCAG 2.2's 2.4.11 and 2.4.13 ask a focus indicator to have.
    """
    state = page.evaluate(FOCUS_STATE)
    assert state is not None, "the focus is lost (on the page's body)"
    assert state["focusVisible"], state
    assert state["outline"] != "none" and state["outlineWidth"] >= 2, state
    assert state["onScreen"], state
    return state


def tab_to(page: Any, target: Any, *, limit: int = 60) -> int:
    """Press Tab until `target` has the focus, checking the ring at every stop on the way.

    A page reached by pressing Enter may still be loading its stylesheet when its heading is
    there (the parser does not wait for it); the ring is judged on the page a person sees.
    """
    page.wait_for_load_state("load")
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        assert_focus_visible(page)
        if target.evaluate("element => element === document.activeElement"):
            return presses
    raise AssertionError(f"{target} cannot be reached with Tab in {limit} presses")


def test_the_whole_pay_flow_by_keyboard_with_the_focus_always_visible(
    page: Any, book: Book
) -> None:
    # the client opens the emailed link (the address bar) and lands on the matter
    page.goto(book.link())
    expect(page.get_by_role("heading", level=1)).to_have_text(book.matter_title)

    # the first Tab shows the skip link; Enter on it moves on to the page's main content
    tab_to(page, page.get_by_role("link", name="Skip to main content"), limit=1)
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    # the matter's "Pay" opens the basket
    tab_to(page, page.get_by_role("link", name="Pay", exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Make a payment")

    # choose one invoice: none comes ticked, Space ticks INV-1041 (pay.js fills in its amount)
    chosen = page.get_by_role("checkbox", name="Invoice INV-1041")
    tab_to(page, chosen)
    page.keyboard.press("Space")
    expect(chosen).to_be_checked()
    expect(page.get_by_role("checkbox", name="Invoice INV-1057")).not_to_be_checked()

    # the method is a radio group: the arrow keys move the choice (to ACH and back to Card)
    card = page.get_by_role("radio", name="Card", exact=True)
    tab_to(page, card)
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("radio", name=re.compile("^Bank account"))).to_be_checked()
    page.keyboard.press("ArrowUp")
    expect(card).to_be_checked()

    tab_to(page, page.get_by_role("button", name="Review payment"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Review your payment")
    expect(page.get_by_role("region", name="Operating account")).to_contain_text("INV-1041")

    # the card's details, box after box
    for label, text in (
        ("Card number", CARD["number"]),
        ("Expiry (MM/YY)", CARD["expiry"]),
        ("Security code (CVC)", CARD["cvc"]),
        ("Name on the card", "Ada Mensah"),
    ):
        tab_to(page, page.get_by_label(label))
        page.keyboard.type(text)
    tab_to(page, page.get_by_role("button", name="Pay $1,200.50"))
    page.keyboard.press("Enter")

    # the receipt, and the way back to the matters, by keyboard too
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: your payment is complete")
    expect(page.get_by_role("region", name="Operating account")).to_contain_text("$1,200.50")
    tab_to(page, page.get_by_role("link", name="Your matters").last)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your matters")
    assert page.watch.console_errors == []
    assert page.watch.page_errors == []


# -- 200% zoom on a 360 px window ------------------------------------------------------------

#: Browser zoom at 200% on a window 360 device pixels wide: every CSS pixel is two device
#: pixels, so the page lays out in 180 CSS pixels (Chromium's zoom does exactly this). That is
#: narrower than WCAG 2.2's 1.4.10 reflow width (320 CSS px, 1280 px at 400%), so passing here
#: passes there.
ZOOMED = {"viewport": {"width": 180, "height": 400}, "device_scale_factor": 2}

#: Every control on the page that is shown: how far it reaches past either side of the window.
CONTROLS_OFF_SCREEN = """() => {
  const out = [];
  const selector = "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]";
  for (const el of document.querySelectorAll(selector)) {
    if (el.closest("[hidden]") || el.classList.contains("visually-hidden")) continue;
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") continue;
    el.scrollIntoView({block: "center", inline: "nearest"});
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.left < 0 || box.right > window.innerWidth + 0.5) {
      const span = `${Math.round(box.left)}..${Math.round(box.right)}`;
      out.push(`${el.outerHTML.slice(0, 100)} spans ${span}`);
    }
  }
  return out;
}"""


def assert_reflows(page: Any, name: str, axe: Callable[[Any], list[str]]) -> None:
    """No sideways scrolling of the page, every control fits the window's width, and the
    page as laid out at this size still passes axe (tables stacked as blocks stay tables).

    Measured once the page has loaded: a page just sent back (a 422) can be visible before its
    stylesheets apply, and on a busy machine it was then measured wider than the window.
    """
    page.wait_for_load_state("load")
    widths = page.evaluate(
        "({page: document.documentElement.scrollWidth, window: window.innerWidth,"
        " ratio: window.devicePixelRatio})"
    )
    assert widths == {"page": 180, "window": 180, "ratio": 2}, (name, widths)
    assert page.evaluate(CONTROLS_OFF_SCREEN) == [], name
    page.evaluate("window.scrollTo(0, 0)")
    assert axe(page) == [], name


def test_the_pay_flow_at_200_percent_zoom_on_a_360_px_window(
    make_page: Any, axe: Any, book: Book
) -> None:
    page = make_page(bypass_csp=True, **ZOOMED)
    portal = Portal(page)
    portal.open(book.link())
    assert_reflows(page, "matter", axe)

    portal.go_to_basket()
    assert_reflows(page, "basket", axe)
    portal.deposit("not money")
    page.get_by_role("button", name="Review payment").click()
    expect(page.locator("#error-summary")).to_be_visible()
    assert_reflows(page, "basket with errors", axe)

    portal.deposit("500.00")
    portal.review("Bank account (ACH)")
    assert_reflows(page, "review (ACH)", axe)
    page.get_by_role("link", name="Change what you pay").click()
    portal.review("Card")
    assert_reflows(page, "review (card)", axe)

    # every control is usable where it is: the payment goes through at this size
    portal.pay_by_card("$2,340.50")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: your payment is complete")
    assert_reflows(page, "receipt", axe)
    # payment numbers are random: the widest one possible must fit too
    page.locator(".receipt-number").evaluate(
        "number => { number.textContent = number.textContent.replace(/P-\\S+/, 'P-WWWW-WWWW') }"
    )
    expect(page.locator(".lede")).to_contain_text("P-WWWW-WWWW")
    assert_reflows(page, "receipt with the widest reference", axe)
    expect(page.get_by_role("region", name="Operating account").get_by_role("row")).to_have_count(
        4  # the head, two invoices, the total: the stacked rows are still a table's rows
    )
    page.get_by_role("link", name="Your matters").first.click()
    assert_reflows(page, "matters", axe)
    page.goto(f"{book.server.url}/matters/{book.matter_id}/trust")
    assert_reflows(page, "trust history", axe)
    # Chromium reports the 422 of the basket sent back as a failed resource; nothing else.
    assert [e for e in page.watch.console_errors if "422" not in e] == []
    assert page.watch.page_errors == []


# -- the other pages a client or payer reaches -----------------------------------------------


def test_the_hosted_pay_page_in_every_state(walk: Walk, book: Book) -> None:
    """The page a firm's pay button opens: start, errors, review (card and bank), receipt."""
    with book.server.app.app_context():
        firm = db.session.query(Firm).one()
        slug = firm.slug
    page = walk.page
    page.goto(f"{book.server.url}/pay/{slug}")
    walk.check("hosted: start", heading="Pay your invoice")

    page.get_by_role("button", name="Review payment").click()  # nothing filled in
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    walk.check("hosted: start with errors")

    def start(method: str) -> None:
        page.goto(f"{book.server.url}/pay/{slug}")
        page.get_by_label("Your name").fill("Grace Parent")
        page.get_by_label("Your email (for the receipt)").fill("grace@example.com")
        page.get_by_label("Invoice or matter number").fill("INV-1057")
        page.get_by_label("Amount").fill("200.00")
        page.get_by_role("radio", name=re.compile(f"^{method}")).check()
        page.get_by_role("button", name="Review payment").click()

    start("Bank account")
    walk.check("hosted: review (ACH)", heading="Review your payment")
    start("Card")
    walk.check("hosted: review (card)", heading="Review your payment")
    page.get_by_label("Card number").fill(CARD["number"])
    page.get_by_label("Expiry (MM/YY)").fill(CARD["expiry"])
    page.get_by_label("Security code (CVC)").fill(CARD["cvc"])
    page.get_by_label("Name on the card").fill("Grace Parent")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    walk.check("hosted: receipt", heading="Thank you: your payment is complete")
    walk.assert_clean()


def test_link_check_fresh_link_and_spanish(walk: Walk, book: Book) -> None:
    page = walk.page
    url = book.server.url
    page.goto(f"{url}/check")
    walk.check("check a link", heading="Check a payment link")
    page.get_by_label("Link").fill(book.link())
    page.get_by_role("button", name="Check this link").click()
    walk.check("check a link: the answer", heading="Check a payment link")

    # an expired link offers a fresh one; asking for it gives the neutral answer
    dead = book.link(expires_in=60)
    with book.server.app.app_context():
        link = db.session.query(Link).order_by(Link.id.desc()).first()
        assert link is not None
        link.expires_at = clock.now() - dt.timedelta(seconds=1)
        db.session.commit()
    page.goto(dead)
    page.get_by_role("button", name="Email me a fresh link").click()
    walk.check("fresh link requested", heading="Check your email")

    # the statement and the basket in Spanish, through the language switcher
    page.goto(book.link())
    page.get_by_role("link", name=re.compile("español", re.IGNORECASE)).first.click()
    expect(page.locator("html")).to_have_attribute("lang", re.compile("^es"))
    walk.check("matter (es)")
    page.goto(f"{url}/pay")
    walk.check("basket (es)")
    walk.assert_clean()
