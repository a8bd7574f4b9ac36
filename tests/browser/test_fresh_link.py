"""A client opens an expired link in a real browser, asks for a fresh one, and opens the new
link from the email a real SMTP server on loopback captured."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import expect

from portal import clock
from portal.db import db
from portal.links.models import Link
from tests.browser.conftest import Book, LiveServer
from tests.links.conftest import Inbox, link_url_in, parts, serve_smtp


@pytest.fixture
def inbox(live_server: LiveServer) -> Iterator[Inbox]:
    captured = Inbox()
    controller: Controller = serve_smtp(live_server.app, captured)
    try:
        yield captured
    finally:
        controller.stop()


def wait_for_mail(inbox: Inbox, timeout: float = 10.0) -> list[Any]:
    """The captured messages, once there are some: the live server sends after responding.

    This waits on another thread's work (the SMTP hand-off), not on the clock of the app.
    """
    deadline = time.monotonic() + timeout
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    return inbox.messages


def test_an_expired_link_recovers_by_email(
    page: Any, book: Book, live_server: LiveServer, inbox: Inbox
) -> None:
    # given a link that has run out
    dead_url = book.link(expires_in=60)
    dead_token = dead_url.rsplit("/", 1)[1]
    with live_server.app.app_context():
        link = db.session.query(Link).one()
        link.expires_at = clock.now() - dt.timedelta(seconds=1)
        db.session.commit()

    # when the client opens it
    response = page.goto(dead_url)

    # then the page says so and offers a fresh link
    assert response is not None and response.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text("This link has expired")
    button = page.get_by_role("button", name="Email me a fresh link")
    expect(button).to_be_visible()
    assert dead_token not in page.content().split("<body", 1)[1]

    # when they press it
    button.click()

    # then the neutral answer, without the address
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    assert "@" not in page.locator("main").inner_text()
    # and the email arrives (the server hands it over once the answer is written), with a new link
    (message,) = wait_for_mail(inbox)
    assert message["To"].endswith("@example.com")  # the address the firm has on file
    fresh_url = link_url_in(message)
    assert fresh_url != dead_url
    assert fresh_url.startswith(live_server.url + "/l/")
    assert "View and pay" in parts(message)[1]

    # when the client opens the new link from the email
    opened = page.goto(fresh_url)

    # then the statement shows
    assert opened is not None and opened.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(book.matter_title)
    expect(page.get_by_role("table", name="Open invoices")).to_contain_text("INV-1041")
    assert page.watch.page_errors == []
    assert page.watch.foreign_requests(live_server.url) == []
    # Chromium reports the 410 document itself as a failed resource, and nothing else.
    assert all("410" in m for m in page.watch.console_errors), page.watch.console_errors


def test_the_check_page_tells_a_genuine_link(
    page: Any, book: Book, live_server: LiveServer
) -> None:
    # given
    url = book.link()

    # when the client pastes it into /check
    page.goto(live_server.url + "/check")
    page.get_by_label("Link").fill(url)
    page.get_by_role("button", name="Check this link").click()

    # then
    expect(page.get_by_role("status")).to_contain_text(
        f"This is a genuine link from {book.firm_name}, and it works."
    )
    assert url not in page.content()
    # and the link was not opened: opening it now is its first opening
    with live_server.app.app_context():
        assert db.session.query(Link).one().open_count == 0
