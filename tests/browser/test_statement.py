"""A client opens their emailed link in a real browser and reads the matter's statement."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from playwright.sync_api import expect

from portal import clock
from portal.db import db
from portal.links.models import Link
from tests.browser.conftest import Book, LiveServer


def session_data(cookie_value: str) -> dict[str, Any]:
    """What a (signed, not encrypted) Flask session cookie holds."""
    payload = cookie_value.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def open_link(page: Any, url: str) -> Any:
    """Open an emailed link as a client would: type it into the address bar."""
    return page.goto(url)


def figure(page: Any, term: str) -> Any:
    """The value (<dd>) the page's summary gives for `term` (its <dt>, matched exactly)."""
    return page.locator(f'dt:text-is("{term}") + dd')


def test_link_opens_the_matter_statement_and_drops_the_token(page: Any, book: Book) -> None:
    # given
    url = book.link()
    token = url.rsplit("/", 1)[1]

    # when
    response = open_link(page, url)

    # then the 303 landed on the matter page, with the token gone from the address bar
    assert response is not None
    assert response.status == 200
    assert book.server.path(page.url) == f"/matters/{book.matter_id}"
    assert token not in page.evaluate("window.location.href")
    assert page.evaluate("history.length") == 2  # a new tab, then the matter page: no token

    # and the session cookie (Secure) was kept over http://127.0.0.1
    [cookie] = page.context.cookies()
    assert cookie["name"] == "matterpay_session"
    assert cookie["secure"]
    assert cookie["httpOnly"]

    # and the page shows the matter, every open invoice, the balances and the trust money
    expect(page.get_by_role("heading", level=1)).to_have_text(book.matter_title)
    expect(page).to_have_title(f"{book.matter_title} · {book.firm_name}")
    open_invoices = page.get_by_role("table", name="Open invoices")
    for number, (balance, total) in book.open_invoices.items():
        row = open_invoices.get_by_role("row").filter(has_text=number)
        expect(row).to_contain_text(balance)
        if total != balance:  # the total shows only once part of an invoice is paid
            expect(row).to_contain_text(f"Total: {total}")
        else:
            expect(row).not_to_contain_text("Total:")
    expect(open_invoices.get_by_role("row").filter(has_text="INV-1041")).to_contain_text("Overdue")
    expect(page.get_by_role("table", name="Recently paid")).to_contain_text(book.paid_invoice)
    expect(figure(page, "Balance due")).to_have_text(book.balance_due)
    expect(figure(page, "Trust balance")).to_have_text(book.trust_balance)
    expect(figure(page, "Minimum trust balance")).to_have_text("$2,500.00")
    expect(page.get_by_text("Your trust balance is below the minimum")).to_be_visible()
    trust = page.get_by_role("table", name="Trust account")
    expect(trust.get_by_role("row").filter(has_text="Retainer deposit")).to_contain_text(
        "$3,000.00"
    )
    expect(trust.get_by_role("row").filter(has_text="Filing fees")).to_contain_text(
        book.trust_balance
    )

    # and nothing went wrong in the page, and it fetched nothing from anywhere else
    assert page.watch.console_errors == []
    assert page.watch.page_errors == []
    assert page.watch.foreign_requests(book.server.url) == []
    assert any(r.endswith("/static/css/portal.css") for r in page.watch.requests)


def test_statement_fits_a_360_px_phone(phone_page: Any, book: Book, tmp_path: Any) -> None:
    # when
    open_link(phone_page, book.link())
    expect(phone_page.get_by_role("heading", level=1)).to_have_text(book.matter_title)

    # then nothing is wider than the screen: no sideways scrolling
    widths = phone_page.evaluate(
        "({page: document.documentElement.scrollWidth, view: window.innerWidth})"
    )
    assert widths["view"] == 360
    assert widths["page"] <= 360, widths
    for number, (balance, _total) in book.open_invoices.items():
        row = phone_page.get_by_role("row").filter(has_text=number)
        expect(row).to_contain_text(balance)
        assert row.bounding_box()["x"] >= 0
        assert row.bounding_box()["x"] + row.bounding_box()["width"] <= 360
    assert phone_page.watch.console_errors == []
    assert phone_page.watch.foreign_requests(book.server.url) == []
    phone_page.screenshot(path=str(tmp_path / "matter-360.png"), full_page=True)


@pytest.mark.parametrize(
    ("ending", "heading"),
    [
        ("expired", "This link has expired"),
        ("revoked", "This link is no longer active"),
    ],
)
def test_a_dead_link_shows_the_410_page(
    page: Any, book: Book, live_server: LiveServer, ending: str, heading: str
) -> None:
    # given a link that has run out, or that the firm turned off
    url = book.link(expires_in=60)
    with live_server.app.app_context():
        link = db.session.query(Link).one()
        if ending == "expired":
            link.expires_at = clock.now() - dt.timedelta(seconds=1)
        else:
            link.revoked_at = clock.now()
        db.session.commit()

    # when
    response = open_link(page, url)

    # then
    assert response is not None
    assert response.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    # a human heading says it; the status stays 410 but no "Error 410" line is shown
    expect(page.get_by_text("Error 410")).to_have_count(0)
    expect(page.get_by_text(book.firm_name).first).to_be_visible()
    expect(page.get_by_role("link", name="Your matters")).to_have_count(0)
    # the session names no link any more: at most the fresh-link form's CSRF token is left
    for cookie in page.context.cookies():
        assert set(session_data(cookie["value"])) <= {"csrf_token"}
    # Chromium reports the 410 document itself as a failed resource, and nothing else.
    assert all("410" in message for message in page.watch.console_errors), page.watch.console_errors
    assert page.watch.page_errors == []
    assert page.watch.foreign_requests(live_server.url) == []
