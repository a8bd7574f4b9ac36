"""The pages this language work changed pass axe-core (WCAG 2.2 A and AA) in English, Spanish
and French on a 390 px phone, and in English on a desktop too: a client's matter and trust
history, a dead link's page and the fresh-link answer (the firm's, in its client's language),
/check's three kinds of verdict, and the hosted pay page opened in the site's language."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from playwright.sync_api import expect

from portal import clock
from portal.billing.models import Client
from portal.db import db
from portal.firms.models import Firm
from portal.links.models import Link
from tests.browser.conftest import DESKTOP, Book
from tests.browser.test_accessibility import Walk

PHONE_390 = {"width": 390, "height": 844}
LOCALES = {"en_US": "en-US", "es_US": "es-US", "fr_CA": "fr-CA"}
#: Every language on the phone, where a longer translation is what breaks a layout, and the
#: source language on the desktop too: (locale, viewport) pairs for `walk`'s tests.
LANGUAGE_SCREENS = pytest.mark.parametrize(
    ("locale", "walk"),
    [
        pytest.param("en_US", DESKTOP, id="desktop-en_US"),
        *(pytest.param(locale, PHONE_390, id=f"phone-{locale}") for locale in LOCALES),
    ],
    indirect=["walk"],
)


@pytest.fixture
def walk(request: pytest.FixtureRequest, make_page: Any, axe: Any) -> Walk:
    """A page of the viewport the test is parametrized with (LANGUAGE_SCREENS)."""
    return Walk(make_page(viewport=request.param, bypass_csp=True), axe)


def speak(book: Book, locale: str) -> str:
    """Make the book's client read `locale`, in a firm with its own colour; the firm's slug."""
    with book.server.app.app_context():
        person = db.session.get(Client, book.client_id)
        assert person is not None
        person.locale = locale
        firm = db.session.get(Firm, person.firm_id)
        assert firm is not None
        firm.brand_colour = "#5a1f3a"
        db.session.commit()
        return firm.slug


def kill_newest_link(book: Book, *, revoke: bool = False) -> None:
    with book.server.app.app_context():
        link = db.session.query(Link).order_by(Link.id.desc()).first()
        assert link is not None
        if revoke:
            link.revoked_at = clock.now()
        else:
            link.expires_at = clock.now() - dt.timedelta(seconds=1)
        db.session.commit()


def in_language(walk: Walk, name: str, lang: str) -> None:
    expect(walk.page.locator("html")).to_have_attribute("lang", lang)
    expect(walk.page.get_by_role("heading", level=1)).to_be_visible()
    walk.check(name)


@LANGUAGE_SCREENS
def test_changed_pages_in_every_language(walk: Walk, book: Book, locale: str) -> None:
    lang = LOCALES[locale]
    slug = speak(book, locale)
    page = walk.page
    url = book.server.url

    page.goto(book.link())
    in_language(walk, "matter", lang)
    page.goto(f"{url}/matters/{book.matter_id}/trust")
    in_language(walk, "trust history", lang)

    # /check: a genuine live link (green), then an expired one (amber), then a stranger (red)
    live = book.link()
    page.goto(f"{url}/check")
    page.locator("#link").fill(live)
    page.locator("#check button[type=submit]").click()
    expect(page.locator("#check-result.notice--ok")).to_be_visible()
    in_language(walk, "check: genuine", lang)
    kill_newest_link(book)
    page.locator("#link").fill(live)
    page.locator("#check button[type=submit]").click()
    expect(page.locator("#check-result.notice--warn")).to_be_visible()
    in_language(walk, "check: expired", lang)
    page.locator("#link").fill("https://evil.example/l/abc")
    page.locator("#check button[type=submit]").click()
    expect(page.locator("#check-result.notice--alert")).to_be_visible()
    walk.check("check: not ours")

    # the dead link's own page, then the answer to "email me a fresh link"
    page.goto(live)
    in_language(walk, "410 expired", lang)
    assert "MatterPay" not in page.content()
    page.locator("#fresh-link button[type=submit]").click()
    in_language(walk, "fresh link answer", lang)
    revoked = book.link()
    kill_newest_link(book, revoke=True)
    page.goto(revoked)
    in_language(walk, "410 revoked", lang)

    # the hosted pay page, opened in the site's language as the pay button does
    page.goto(f"{url}/pay/{slug}?lang={locale}")
    in_language(walk, "hosted pay page", lang)
    page.locator("input[name=name]").fill("Grace Parent")
    page.locator("input[name=email]").fill("grace@example.com")
    page.locator("input[name=reference]").fill("INV-1057")
    page.locator("input[name=amount]").fill("20")
    page.locator("#public-pay button[type=submit]").click()
    in_language(walk, "hosted review", lang)
    walk.assert_clean()
