"""The client's pay flow when things go wrong or run late, through the Flask test client.

A card whose bank must confirm goes through the sandbox's test bank (approve or fail, once
however often the page is sent); a review started while the link was live may be confirmed
for `kept_baskets.GRACE` after it expires, same basket only; an expired page keeps the basket
for the fresh link; the basket ticks nothing the payer did not choose.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from portal import clock
from portal.gateways.models import SandboxIntent
from portal.links import fresh
from portal.links.models import LinkDelivery
from portal.payments import kept_baskets
from portal.payments.models import ChargeEvent, ChargeStatus, ReviewedBasket
from tests.clocks import Clock
from tests.payments import test_views
from tests.payments.test_views import (
    VISA,
    Books,
    Browser,
    choose,
    location,
    payments_of,
    text_of,
)

#: The pay pages' fixtures: a client owing on three invoices, and a browser on their link.
books = test_views.books
browser = test_views.browser

AUTHENTICATE = {**VISA, "card_number": "4000 0025 0000 3155"}


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(clock.now())
    monkeypatch.setattr(clock, "now", fake)
    return fake


def reviewed(browser: Browser, books: Books) -> object:
    return choose(browser.basket(), invoices={books.new.id: "100"}).submit()


# -- 3-D Secure on the sandbox -------------------------------------------------------------------


def test_the_authentication_card_goes_through_the_test_bank_and_approve_pays_once(
    browser: Browser, books: Books, session
) -> None:
    review = reviewed(browser, books)
    done = browser.form(review, "confirm").fill(AUTHENTICATE).submit()

    # then the test bank asks, saying what it is; nothing is charged yet
    assert done.status_code == 303
    assert re.fullmatch(r"/pay/authenticate/[\w-]+", location(done))
    bank = browser.get(location(done))
    page = text_of(bank.text)
    assert "Sandbox test bank" in page and "sandbox's test bank" in page
    (payment,) = payments_of(session, books)
    assert payment.charges[0].status is ChargeStatus.CREATED
    assert books.new.reserved_minor == 10_000

    # when the payer approves, twice (a double submit)
    answer = browser.form(bank, "test-bank")
    answer.fields.append(("answer", "approve"))
    first = answer.submit()
    second = answer.submit()

    # then one charge succeeded once, and both answers lead to the receipt
    assert location(first) == location(second) == f"/payments/{payment.public_id}"
    session.refresh(payment.charges[0])
    assert payment.charges[0].status is ChargeStatus.SUCCEEDED
    moves = session.scalar(
        select(func.count(ChargeEvent.id)).where(
            ChargeEvent.charge_id == payment.charges[0].id,
            ChargeEvent.to_status == ChargeStatus.SUCCEEDED,
        )
    )
    assert moves == 1
    assert session.scalar(select(func.count(SandboxIntent.id))) == 1
    assert "complete" in text_of(browser.get(location(first)).text)
    # the bank's page, asked for again, no longer asks
    assert location(browser.get(location(done))) == f"/payments/{payment.public_id}"


def test_failing_at_the_test_bank_returns_to_the_review_with_the_basket(
    browser: Browser, books: Books, session
) -> None:
    review = reviewed(browser, books)
    done = browser.form(review, "confirm").fill(AUTHENTICATE).submit()
    answer = browser.form(browser.get(location(done)), "test-bank")
    answer.fields.append(("answer", "fail"))

    back = answer.submit()

    assert back.status_code == 422
    page = text_of(back.text)
    assert "Review your payment" in page
    assert "Your bank did not confirm this payment. Nothing was charged." in page
    assert browser.form(back, "confirm").values("invoice") == [str(books.new.id)]
    (payment,) = payments_of(session, books)
    assert payment.charges[0].status is ChargeStatus.FAILED
    assert books.new.reserved_minor == 0


# -- grace after the link expires ----------------------------------------------------------------


def test_a_review_started_before_expiry_can_be_confirmed_within_the_grace(
    browser: Browser, books: Books, session, frozen: Clock
) -> None:
    books.link.expires_at = clock.now() + dt.timedelta(minutes=2)
    review = reviewed(browser, books)
    # the review says how long is left
    assert "This link expires in 2 minutes." in text_of(review.text)

    frozen.advance(minutes=10)  # expired 8 minutes ago
    assert "This link has expired" in text_of(browser.get("/pay").text)  # new baskets: no
    done = browser.form(review, "confirm").fill(VISA).submit()

    assert done.status_code == 303, text_of(done.text)
    receipt = browser.get(location(done))
    assert receipt.status_code == 200
    assert "complete" in text_of(receipt.text)
    assert "more minutes" in text_of(receipt.text)


def test_no_grace_for_a_changed_basket_after_the_grace_or_for_a_revoked_link(
    browser: Browser, books: Books, session, frozen: Clock
) -> None:
    books.link.expires_at = clock.now() + dt.timedelta(minutes=2)
    review = reviewed(browser, books)
    frozen.advance(minutes=5)

    # a changed amount is not the basket that was reviewed
    changed = browser.form(review, "confirm").fill(VISA).set(f"invoice-{books.new.id}", "90")
    assert changed.submit().status_code == 410
    # past the grace, not even the same basket
    frozen.advance(minutes=kept_baskets.GRACE.total_seconds() / 60)
    assert browser.form(review, "confirm").fill(VISA).submit().status_code == 410
    assert payments_of(session, books) == []


def test_the_expired_page_keeps_the_basket_for_the_fresh_link(
    browser: Browser, books: Books, session, frozen: Clock, client
) -> None:
    books.link.expires_at = clock.now() + dt.timedelta(minutes=2)
    reviewed(browser, books)
    kept = session.scalars(
        select(ReviewedBasket).where(ReviewedBasket.link_id == books.link.id)
    ).all()
    assert len(kept) == 1 and kept[0].total_minor == 10_000
    frozen.advance(minutes=30)

    # the expired page offers the fresh link and says the basket is kept
    gone = browser.get("/pay")
    assert gone.status_code == 410
    assert "We kept the payment you were making" in text_of(gone.text)
    ref = re.search(r'name="ref" value="([^"]+)"', gone.text)
    assert ref is not None
    delivery = fresh.request_fresh_link(ref.group(1))
    assert isinstance(delivery, LinkDelivery)

    # the fresh link opens the basket again, from the server (nothing in the URL)
    opened = browser.open(delivery.link)
    assert location(opened) == "/pay"
    basket = browser.basket()
    assert basket.values("invoice") == [str(books.new.id)]
    assert basket.value(f"invoice-{books.new.id}") == "100.00"
    assert "We kept the payment you were making before your link expired." in text_of(
        browser.seen[-1]
    )


# -- the basket ------------------------------------------------------------------------------


def test_a_ticked_invoice_with_an_empty_box_is_paid_in_full(browser: Browser, books: Books) -> None:
    basket = browser.basket()
    assert basket.values("invoice") == []
    basket.tick("invoice", str(books.old.id))
    review = basket.submit()
    assert review.status_code == 200, text_of(review.text)
    assert "Pay $1,200.00" in text_of(review.text)


def test_the_time_left_is_shown_only_under_an_hour(
    browser: Browser, books: Books, frozen: Clock
) -> None:
    books.link.expires_at = clock.now() + dt.timedelta(hours=2)
    assert "This link expires in" not in text_of(browser.get("/pay").text)
    frozen.advance(minutes=61)
    assert "This link expires in 59 minutes." in text_of(browser.get("/pay").text)
