"""Days are the firm's: at 23:30 in New York (04:30 UTC the next day) a payment is that day's in
its posting, the reconciliation and the API's date filters; "overdue" flips at the firm's
midnight; times read in the firm's zone with its abbreviation."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal import clock
from portal.firms import identity
from portal.firms.models import EvergreenMode
from portal.payments import postings as payment_postings
from portal.templating import format_local_datetime, locale_scope
from portal.trust_requests import evergreen, holds
from tests import factories
from tests.clocks import Clock, freeze
from tests.conftest import APIClient
from tests.pages.conftest import Portal
from tests.payments.conftest import Book, pay

#: 11:30 pm on Wednesday, December 2, 2026 in New York (EST, UTC-5).
NEW_YORK_2330 = dt.datetime(2026, 12, 3, 4, 30, tzinfo=dt.UTC)


@pytest.fixture
def late(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return freeze(monkeypatch, NEW_YORK_2330)


@pytest.fixture
def portal(client: FlaskClient) -> Portal:
    return Portal(client)


@pytest.fixture
def book(session: Session, firm: factories.FirmWithKey, late: Clock) -> Book:
    person = factories.client(firm, email="ada@example.com")
    matter = factories.matter(person, trust_minimum_minor=0)
    old = factories.invoice(
        matter, total_minor=120_000, due_on=dt.date(2026, 12, 2), number="INV-DUE-TODAY"
    )
    new = factories.invoice(
        matter, total_minor=80_000, due_on=dt.date(2026, 12, 20), number="INV-LATER"
    )
    return Book(person, matter, factories.matter(person), old, new, factories.link(person))


@pytest.mark.parametrize(
    ("zone", "day"),
    [("America/New_York", "2026-12-02"), (None, "2026-12-03"), ("Asia/Tokyo", "2026-12-03")],
)
def test_a_payment_posts_and_reconciles_on_the_firms_day(
    api: APIClient, firm: factories.FirmWithKey, book: Book, zone: str | None, day: str
) -> None:
    # given a firm in `zone` (None: the default, UTC in tests)
    firm.firm.time_zone = zone

    # when its client pays at 04:30 UTC (11:30 pm in New York)
    payment = pay(book, invoices={book.old.id: 120_000})
    (charge,) = payment.charges

    # then the posting carries the firm's day, for the payment and for the money's arrival
    data = payment_postings.charge_data(charge, firm=firm.firm, default_ar_message="Portal")
    assert data["transaction_date"] == data["posted_date"] == data["posting_date"] == day
    assert charge.settled_on == dt.date.fromisoformat(day)

    # and the reconciliation puts it on that day, and on no other
    report = api.get("/api/v1/reconciliation", query_string={"from": day, "to": day}).get_json()
    assert report["time_zone"] == (zone or "UTC")
    (line,) = [x for x in report["lines"] if x["kind"] == "operating"]
    assert line["day"] == day and line["gross"] == 120_000
    other = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    empty = api.get("/api/v1/reconciliation", query_string={"from": other, "to": other})
    assert empty.get_json()["lines"] == []

    # and the API's date filters count the firm's days too
    found = api.get("/api/v1/payments", query_string={"created_from": day, "created_to": day})
    assert [p["id"] for p in found.get_json()["data"]] == [payment.public_id]
    missed = api.get("/api/v1/payments", query_string={"created_from": other})
    assert missed.get_json()["data"] == []


def test_overdue_flips_at_the_firms_midnight(
    portal: Portal, firm: factories.FirmWithKey, book: Book, late: Clock
) -> None:
    # given a New York firm and an invoice due on December 2
    firm.firm.time_zone = "America/New_York"
    portal.open(book.link)

    # when it is 11:30 pm on December 2 in New York (already December 3 in UTC)
    before = portal.get(f"/matters/{book.matter.id}").text
    # then the invoice is due today, not overdue
    assert "INV-DUE-TODAY" in before and "Overdue" not in before

    # when New York passes midnight
    late.advance(minutes=31)
    after = portal.get(f"/matters/{book.matter.id}").text
    # then it is overdue
    assert "Overdue" in after


def test_a_trust_request_is_overdue_from_the_firms_midnight(
    firm: factories.FirmWithKey, book: Book, late: Clock
) -> None:
    firm.firm.time_zone = "America/New_York"
    request = factories.retainer(book.matter, due_on=dt.date(2026, 12, 2))

    (payable,) = holds.payable_for_matters(firm.id, [book.matter.id])
    assert payable.id == request.id and not payable.is_overdue
    late.advance(minutes=31)
    (payable,) = holds.payable_for_matters(firm.id, [book.matter.id])
    assert payable.is_overdue


def test_evergreen_requests_fall_due_counting_from_the_firms_day(
    app: Flask, firm: factories.FirmWithKey, book: Book, late: Clock
) -> None:
    # given a New York firm asking for top-ups, and a matter below its trust minimum
    firm.firm.time_zone = "America/New_York"
    firm.firm.evergreen_mode = EvergreenMode.CREATE
    book.matter.trust_minimum_minor = 100_000
    days = int(app.config["TRUST_REQUEST_EVERGREEN_DUE_DAYS"])

    (request,) = evergreen.evergreen_after_sync(
        firm.id, [book.matter.id], pending_deposits=lambda ids: {}
    )

    assert request.due_on == dt.date(2026, 12, 2) + dt.timedelta(days=days)


@pytest.mark.parametrize(
    ("zone", "locale", "expected"),
    [
        ("America/New_York", "en_US", "Dec 2, 2026, 11:30\u202fPM EST"),
        ("America/New_York", "es_US", "2 dic 2026, 11:30\u202fp.m. EST"),
        ("UTC", "en_US", "Dec 3, 2026, 4:30\u202fAM UTC"),
        ("America/Los_Angeles", "en_US", "Dec 2, 2026, 8:30\u202fPM PST"),
    ],
)
def test_local_datetime_shows_the_zone_and_its_abbreviation(
    app: Flask, zone: str, locale: str, expected: str
) -> None:
    assert format_local_datetime(NEW_YORK_2330, clock.zone_named(zone), locale) == expected
    with app.test_request_context(), locale_scope(locale):
        by_name = render_template_string(
            "{{ at|local_datetime(zone) }}", at=NEW_YORK_2330, zone=zone
        )
        by_page = render_template_string(
            "{{ at|local_datetime }}", at=NEW_YORK_2330, page_zone=clock.zone_named(zone)
        )
    assert by_name == by_page == expected


def test_summer_time_has_its_own_abbreviation(firm: factories.FirmWithKey) -> None:
    firm.firm.time_zone = "America/New_York"
    july = dt.datetime(2026, 7, 1, 3, 30, tzinfo=dt.UTC)
    zone = identity.page_context(firm.firm)["page_zone"]
    assert format_local_datetime(july, zone, "en_US") == "Jun 30, 2026, 11:30\u202fPM EDT"


def test_an_invoice_paid_late_in_the_evening_was_paid_that_day(
    portal: Portal, firm: factories.FirmWithKey, book: Book
) -> None:
    # given a New York firm whose client pays an invoice in full at 11:30 pm on December 2
    firm.firm.time_zone = "America/New_York"
    pay(book, invoices={book.old.id: 120_000})
    portal.open(book.link)

    # when the client looks at the matter
    page = portal.get(f"/matters/{book.matter.id}").text

    # then it was paid on December 2, the firm's day (December 3 in UTC)
    paid = page[page.index("INV-DUE-TODAY") :]
    assert "Dec 2, 2026" in paid and "Dec 3, 2026" not in paid
