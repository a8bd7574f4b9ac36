"""The client's review page: saving a card (consent kept word for word), paying with it on the
next visit, the flag on a card about to expire, and removing it (audited with the client as the
actor; a card declined on its first payment is forgotten by the system), through the Flask test
client."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import g
from sqlalchemy import func, select

from portal import clock
from portal.audit.models import AuditEvent
from portal.gateways.base import Instrument
from portal.gateways.models import SandboxSavedMethod
from portal.payers.models import Consent, ConsentHow, ConsentScope, SavedMethod
from portal.payments.models import ChargeStatus
from tests import factories
from tests.conftest import APIClient
from tests.payers.helpers import saved_for
from tests.payments import test_views
from tests.payments.test_views import (
    DECLINED,
    VISA,
    Books,
    Browser,
    choose,
    payments_of,
    text_of,
)

books = test_views.books
browser = test_views.browser


def _removals(session) -> list[AuditEvent]:
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == "saved_method.removed"))
    )


def _review(browser: Browser, books: Books, amount: str = "100") -> object:
    return choose(browser.basket(), invoices={books.new.id: amount}).submit()


def test_the_box_is_off_by_default_and_saving_keeps_the_words_shown(
    browser: Browser, books: Books, session, firm
) -> None:
    # given
    review = _review(browser, books)
    words = f"Save this card for future payments to {firm.firm.name}"
    assert words in text_of(review.text)
    confirm = browser.form(review, "confirm")
    assert confirm.values("save_method") == []  # not ticked

    # when
    done = confirm.fill(VISA).set("save_method", "yes").submit()

    # then
    assert done.status_code == 303
    (payment,) = payments_of(session, books)
    assert payment.charges[0].status is ChargeStatus.SUCCEEDED
    (method,) = session.scalars(select(SavedMethod)).all()
    assert (method.brand, method.last4, method.exp_month, method.exp_year) == (
        "visa",
        "4242",
        12,
        2040,
    )
    (consent,) = session.scalars(select(Consent)).all()
    assert consent.words == words
    assert (consent.how, consent.scope) == (
        ConsentHow.CLIENT_PAY_PAGE,
        ConsentScope.FUTURE_FIRM_INITIATED,
    )
    assert consent.ip == "198.51.100.7"
    for row in session.scalars(select(SandboxSavedMethod)):
        assert "4242424242424242" not in repr(vars(row))


def test_not_ticking_the_box_saves_nothing(browser: Browser, books: Books, session) -> None:
    review = _review(browser, books)
    browser.form(review, "confirm").fill(VISA).submit()
    assert session.scalar(select(func.count()).select_from(SavedMethod)) == 0


def test_the_next_visit_offers_the_saved_card_and_pays_with_it(
    app, browser: Browser, books: Books, session
) -> None:
    # given a card saved on the first payment
    first = _review(browser, books)
    browser.form(first, "confirm").fill(VISA).set("save_method", "yes").submit()

    # when the client comes back through a new link and pays with it, typing no card
    # Another day, another browser. The tests' app context outlives requests, so Flask-WTF's
    # per-request token cache on `g` would carry the first browser's token over: drop it.
    g.pop("csrf_token", None)
    again = test_views.Browser(app.test_client())
    opened = again.open(factories.link(books.client))
    assert opened.status_code in (302, 303), opened.text
    review = _review(again, books, "50")
    assert review.status_code == 200, text_of(review.text)
    page = text_of(review.text)
    assert "Visa •••• 4242, expires 12/2040" in page
    confirm = again.form(review, "confirm")
    (method,) = session.scalars(select(SavedMethod)).all()
    assert confirm.value("saved_method") == method.public_id
    done = confirm.submit()

    # then
    assert done.status_code == 303, text_of(done.text)
    payments = payments_of(session, books)
    assert len(payments) == 2
    assert all(p.charges[0].status is ChargeStatus.SUCCEEDED for p in payments)
    assert payments[1].charges[0].instrument_last4 == "4242"


def test_a_saved_card_of_another_client_cannot_be_chosen(
    browser: Browser, books: Books, session, firm
) -> None:
    # given another client's saved card
    theirs = saved_for(factories.client(firm, name="Someone Else"))
    review = _review(browser, books)

    # when the form is tampered to name it
    done = browser.form(review, "confirm").set("saved_method", theirs.public_id).submit()

    # then
    assert done.status_code == 404
    assert payments_of(session, books) == []


def test_a_declined_card_is_not_kept(browser: Browser, books: Books, session) -> None:
    review = _review(browser, books)
    browser.form(review, "confirm").fill(DECLINED).set("save_method", "yes").submit()
    # kept before the charge (the charge uses the saved tokens), then forgotten on the decline
    assert (
        session.scalar(
            select(func.count()).select_from(SavedMethod).where(SavedMethod.removed_at.is_(None))
        )
        == 0
    )
    # by the system, not the client, and the log says why
    (method,) = session.scalars(select(SavedMethod)).all()
    (event,) = _removals(session)
    assert (event.actor_kind, event.actor_id) == ("system", None)
    assert (event.entity_id, event.reason) == (method.public_id, "declined on its first payment")


def test_a_card_expiring_within_30_days_is_flagged(
    browser: Browser, books: Books, session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a card expiring at the end of this month

    today = clock.today()
    expiry = f"{today.month:02d}/{today.year % 100:02d}"
    saved_for(
        books.client, Instrument(card_number="4242424242424242", card_expiry=expiry, card_cvc="123")
    )

    # when
    page = text_of(_review(browser, books).text)

    # then
    assert "Expires soon" in page
    last = dt.date(today.year + (today.month == 12), today.month % 12 + 1, 1) - dt.timedelta(1)
    assert (last - today).days <= 30


def test_removing_a_saved_card_detaches_it_and_keeps_the_review(
    browser: Browser, books: Books, session
) -> None:
    # given
    method = saved_for(books.client)
    review = _review(browser, books)

    # when the client presses "Remove"
    confirm = browser.form(review, "confirm")
    removed = browser.post(f"/pay/saved-methods/{method.public_id}/remove", confirm.fields)

    # then
    assert removed.status_code == 200
    page = text_of(removed.text)
    assert "The saved card was removed." in page
    assert "•••• 4242" not in page
    session.refresh(method)
    assert method.removed_at is not None
    assert all(t.detached_at is not None for t in session.scalars(select(SandboxSavedMethod)))
    assert "Card number" in page  # the review still takes a new card


def test_a_client_removing_a_saved_card_is_audited_with_the_client_as_the_actor(
    browser: Browser, books: Books, session, api: APIClient
) -> None:
    # given
    method = saved_for(books.client)
    confirm = browser.form(_review(browser, books), "confirm")

    # when
    removed = browser.post(f"/pay/saved-methods/{method.public_id}/remove", confirm.fields)

    # then one event, the same action as staff's and a key's removal, naming no one by name
    assert removed.status_code == 200
    (event,) = _removals(session)
    assert (event.actor_kind, event.actor_id) == ("client", str(books.client.id))
    assert (event.firm_id, event.entity, event.entity_id, event.field) == (
        books.client.firm_id,
        "saved_method",
        method.public_id,
        "removed",
    )
    assert (event.before, event.after, event.reason) == (False, True, None)
    # removing it again (a second tab) is not found and audits nothing more
    again = browser.post(f"/pay/saved-methods/{method.public_id}/remove", confirm.fields)
    assert again.status_code == 404
    assert len(_removals(session)) == 1

    # and the firm's API lists it under the new actor kind
    listed = api.get("/api/v1/audit-events?actor_kind=client")
    assert listed.status_code == 200, listed.get_json()
    (shown,) = listed.get_json()["data"]
    assert shown["actor"] == {"kind": "client", "id": str(books.client.id)}
    assert (shown["action"], shown["entity_id"]) == ("saved_method.removed", method.public_id)
    assert api.get("/api/v1/audit-events?actor_kind=staff").get_json()["data"] == []
    assert books.client.name not in listed.text and "ada@example.com" not in listed.text


def test_a_card_the_processor_will_not_keep_is_explained_and_not_charged(
    browser: Browser, books: Books, session
) -> None:
    # given a real-looking card the sandbox does not take
    review = _review(browser, books)
    other = {**VISA, "card_number": "4111 1111 1111 1111"}

    # when
    again = browser.form(review, "confirm").fill(other).set("save_method", "yes").submit()

    # then the review again, with why, and nothing charged or kept
    assert again.status_code == 422
    assert "This card could not be saved" in text_of(again.text)
    assert payments_of(session, books) == []
    assert session.scalar(select(func.count()).select_from(SavedMethod)) == 0


def test_the_same_card_saved_again_replaces_the_older_copy_audited(books: Books, session) -> None:
    older = saved_for(books.client)
    newer = saved_for(books.client)  # the same card, kept again (a second "save" on the phone)

    session.refresh(older)
    assert older.removed_at is not None and newer.removed_at is None
    (event,) = _removals(session)
    assert (event.actor_kind, event.entity_id) == ("system", older.public_id)
    assert event.reason == "the same method was saved again"
