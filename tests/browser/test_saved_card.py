"""A client saves a card on the review page in a real browser, pays with it on the next link
without typing it, then removes it. The firm's accounts are on the sandbox gateway."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from portal.db import db
from portal.payers.models import Consent, SavedMethod
from tests.browser.conftest import Book
from tests.browser.test_pay import Portal, assert_clean


def test_a_client_saves_a_card_reuses_it_and_removes_it(page: Any, book: Book) -> None:
    portal = Portal(page)
    box = f"Save this card for future payments to {book.firm_name}"

    # given a first payment, with the save box (off by default) ticked
    portal.open(book.link())
    portal.go_to_basket(tick=("INV-1057",))
    portal.review("Card")
    save = page.get_by_role("checkbox", name=box)
    expect(save).not_to_be_checked()
    save.check()
    portal.pay_by_card("$640.00")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: your payment is complete")

    # then the card is kept as tokens, with the box's words as consent
    with book.server.app.app_context():
        (method,) = db.session.scalars(select(SavedMethod)).all()
        assert (method.brand, method.last4) == ("visa", "4242")
        (consent,) = db.session.scalars(select(Consent)).all()
        assert consent.words == box

    # when the client comes back through a new link
    portal.open(book.link())
    portal.go_to_basket(tick=("INV-1041",))
    portal.review("Card")

    # then the saved card is offered, chosen, and paying needs no card typed
    saved = page.get_by_role("radio", name="Visa •••• 4242, expires 12/2034")
    expect(saved).to_be_checked()
    page.get_by_role("button", name="Pay $1,200.50").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: your payment is complete")
    expect(page.locator('dt:text-is("Paid by") + dd')).to_contain_text("4242")

    # and on a third visit the client removes it
    portal.open(book.link())
    portal.go_to_basket(tick=())
    portal.deposit("100.00")
    portal.review("Card")
    page.get_by_role("button", name=re.compile(r"Remove Visa •••• 4242")).click()
    expect(page.get_by_text("The saved card was removed.")).to_be_visible()
    expect(page.get_by_role("radio", name=re.compile("4242"))).to_have_count(0)
    with book.server.app.app_context():
        (method,) = db.session.scalars(select(SavedMethod)).all()
        assert method.removed_at is not None
    assert_clean(page, book.server)
