"""GET /api/v1/dashboard: money received per merchant account in the firm's days, and what
needs a person."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.gateways.base import Instrument
from portal.payments.models import Charge, Payment, PaymentMethod
from portal.postings.models import MessageStatus, OutboundMessage
from portal.trust_requests import services as trust_requests
from portal.trust_requests.models import TrustRequestKind
from tests import factories
from tests.api.payment_books import make_book, settle_ach
from tests.api.unmatched_books import public_payment
from tests.clocks import Clock, freeze
from tests.conftest import APIClient
from tests.payers.helpers import saved_for
from tests.payments.conftest import ACH_RETURNED, Book, pay

#: 09:00 UTC on 2 December 2026 is 01:00 that day in Los Angeles (UTC-8).
NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def moment(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return freeze(monkeypatch, NOW)


@pytest.fixture
def book(session: Session, firm: factories.FirmWithKey, moment: Clock) -> Book:
    firm.firm.time_zone = "America/Los_Angeles"
    return make_book(firm)


def _succeeded_at(session: Session, payment: Payment, at: dt.datetime) -> None:
    for charge in payment.charges:
        charge.succeeded_at = at
    session.flush()


def _figures(api: APIClient) -> dict[str, dict[str, Any]]:
    response = api.get("/api/v1/dashboard")
    assert response.status_code == 200, response.get_json()
    return {line["kind"]: line for line in response.get_json()["accounts"]}


def test_figures_follow_the_firms_midnight(
    api: APIClient, book: Book, session: Session, moment: Clock
) -> None:
    # given: operating money at 23:30 on 1 Dec and 00:30 on 2 Dec, Los Angeles time; trust
    # money in November and last year
    _succeeded_at(
        session,
        pay(book, invoices={book.new.id: 1_000}),
        dt.datetime(2026, 12, 2, 7, 30, tzinfo=dt.UTC),
    )
    _succeeded_at(
        session,
        pay(book, invoices={book.new.id: 2_000}),
        dt.datetime(2026, 12, 2, 8, 30, tzinfo=dt.UTC),
    )
    _succeeded_at(
        session,
        pay(book, trust={book.matter.id: 40_000}),
        dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC),
    )
    _succeeded_at(
        session,
        pay(book, trust={book.matter.id: 9_000}),
        dt.datetime(2026, 1, 1, 7, 59, tzinfo=dt.UTC),
    )

    # when: 01:00 on 2 December in Los Angeles
    now = _figures(api)

    # then: trust and operating apart; the 23:30 payment was yesterday there
    assert now["operating"]["today"] == {"count": 1, "amount": 2_000}
    assert now["operating"]["month"] == {"count": 2, "amount": 3_000}
    assert now["operating"]["year"] == {"count": 2, "amount": 3_000}
    assert now["trust"]["today"] == {"count": 0, "amount": 0}
    assert now["trust"]["month"] == {"count": 0, "amount": 0}
    # 07:59 UTC on 1 January is 23:59 on 31 December 2025 in Los Angeles
    assert now["trust"]["year"] == {"count": 1, "amount": 40_000}

    # when: an hour earlier, 00:00 UTC is still the 1st there
    moment.at = dt.datetime(2026, 12, 2, 7, 45, tzinfo=dt.UTC)
    before_midnight = _figures(api)

    # then
    assert before_midnight["operating"]["today"] == {"count": 1, "amount": 1_000}
    body = api.get("/api/v1/dashboard").get_json()
    assert (body["today"], body["time_zone"]) == ("2026-12-01", "America/Los_Angeles")


def test_what_needs_a_person(
    api: APIClient, book: Book, session: Session, firm: factories.FirmWithKey
) -> None:
    # given: a held posting, a failed one, an unmatched payment, a return, an overdue request
    firm.firm.auto_post = False
    held = pay(book, invoices={book.new.id: 1_000})
    firm.firm.auto_post = True
    pay(book, invoices={book.new.id: 1_000})
    failed = session.scalars(
        select(OutboundMessage).where(OutboundMessage.status != MessageStatus.HELD)
    ).first()
    assert failed is not None
    failed.status = MessageStatus.FAILED
    stray = public_payment(firm.firm, "NO-SUCH", 2_500)
    returned = pay(
        book,
        trust={book.other_matter.id: 3_000},
        method=PaymentMethod.ACH,
        instrument=ACH_RETURNED,
    )
    settle_ach(returned)
    request, _ = trust_requests.create_request(
        firm_id=firm.id,
        new=trust_requests.NewRequest(
            matter="M-1",
            amount_minor=100_000,
            currency="USD",
            kind=TrustRequestKind.RETAINER,
            due_on=dt.date(2026, 11, 30),
        ),
    )
    session.flush()

    # when
    body = api.get("/api/v1/dashboard").get_json()

    # then
    assert body["held_postings"]["count"] == 1
    assert body["held_postings"]["items"][0]["type"] == "payment.succeeded"
    assert body["failed_deliveries"]["count"] == 1
    assert body["failed_deliveries"]["items"][0]["kind"] == "posting"
    assert body["unmatched_payments"] == {
        "count": 1,
        "items": [
            {
                "id": stray.public_id,
                "amount_minor": 2_500,
                "currency": "USD",
                "payer_reference": "NO-SUCH",
                "created_at": body["unmatched_payments"]["items"][0]["created_at"],
            }
        ],
    }
    charge = session.scalar(select(Charge).where(Charge.payment_id == returned.id))
    assert body["disputes_and_returns"]["items"] == [
        {
            "payment": returned.public_id,
            "charge": charge.public_id,
            "status": "returned",
            "amount_minor": 3_000,
            "currency": "USD",
            "account_kind": "trust",
        }
    ]
    # M-1 holds 2,000.00 against a 5,000.00 minimum
    assert body["trust_shortfalls"]["items"] == [
        {
            "matter": "M-1",
            "balance_minor": 200_000,
            "minimum_minor": 500_000,
            "shortfall_minor": 300_000,
        }
    ]
    assert body["overdue_trust_requests"]["items"] == [
        {
            "id": request.public_id,
            "matter": "M-1",
            "outstanding_minor": 100_000,
            "currency": "USD",
            "due_on": "2026-11-30",
        }
    ]
    assert held.public_id


def test_another_firms_dashboard_shows_none_of_it(
    other_api: APIClient, book: Book, firm: factories.FirmWithKey
) -> None:
    # given
    public_payment(firm.firm, "NO-SUCH", 2_500)
    pay(book, invoices={book.new.id: 1_000})

    # when
    body = other_api.get("/api/v1/dashboard").get_json()

    # then
    assert body["unmatched_payments"]["count"] == 0
    assert body["trust_shortfalls"]["count"] == 0
    assert all(line["year"]["count"] == 0 for line in body["accounts"])


def test_saved_cards_about_to_expire_need_a_person(
    api: APIClient, firm: factories.FirmWithKey
) -> None:
    # given one card that stops working at the end of this month and one good for years
    person = factories.client(firm, external_id="C-EXP")
    today = clock.today()
    soon = Instrument(
        card_number="4242424242424242",
        card_expiry=f"{today.month:02d}/{today.year % 100:02d}",
        card_cvc="123",
    )
    expiring = saved_for(person, soon)
    saved_for(person, Instrument(card_number="5555555555554444", card_expiry="12/40", card_cvc="1"))

    # when
    body = api.get("/api/v1/dashboard").get_json()

    # then
    assert body["expiring_cards"]["count"] == 1
    (item,) = body["expiring_cards"]["items"]
    assert (item["payment_method"], item["last4"]) == (expiring.public_id, "4242")
