"""The Payment Manager's list through GET /api/v1/payments: every filter, the firm's days,
the sort orders with paging, and the CSV of exactly what the list shows."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.payments import queries
from portal.payments.export import HEADER
from portal.payments.filters import PaymentFilters
from portal.payments.models import Payment, PaymentMethod, PaymentSource
from tests import factories
from tests.api.payment_books import make_book, walk_ids
from tests.api.unmatched_books import public_payment
from tests.conftest import APIClient
from tests.payments.conftest import ACH_OK, DECLINED, Book, pay


@pytest.fixture
def book(session: Session, firm: factories.FirmWithKey) -> Book:
    return make_book(firm)


def _at(session: Session, payments: list[Payment], start: dt.datetime) -> list[str]:
    """Set the payments' creation one minute apart from `start`; their public ids."""
    for n, payment in enumerate(payments):
        payment.created_at = start + dt.timedelta(minutes=n)
    session.flush()
    return [payment.public_id for payment in payments]


@pytest.fixture
def mixed(book: Book, firm: factories.FirmWithKey, session: Session) -> dict[str, str]:
    """Five payments: a card invoice, a card trust deposit, an ACH invoice, a declined card
    and a pay-button payment that matched nothing; with their totals."""
    made = {
        "card_invoice": pay(book, invoices={book.new.id: 1_000}),
        "card_trust": pay(book, trust={book.other_matter.id: 50_000}),
        "ach_invoice": pay(
            book, invoices={book.old.id: 7_000}, method=PaymentMethod.ACH, instrument=ACH_OK
        ),
        "declined": pay(book, invoices={book.old.id: 3_000}, instrument=DECLINED),
        "pay_button": public_payment(firm.firm, "NO-SUCH-INVOICE", 2_500),
    }
    ids = _at(session, list(made.values()), dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC))
    return dict(zip(made, ids, strict=True))


def test_each_filter_narrows_the_list(api: APIClient, mixed: dict[str, str]) -> None:
    # then
    assert walk_ids(api, method="ach") == [mixed["ach_invoice"]]
    assert walk_ids(api, account_kind="trust") == [mixed["card_trust"]]
    assert walk_ids(api, source="pay_button") == [mixed["pay_button"]]
    assert walk_ids(api, source="staff") == []
    assert walk_ids(api, source="link") == [
        mixed[name] for name in ("card_invoice", "card_trust", "ach_invoice", "declined")
    ]
    assert walk_ids(api, invoice="INV-OLD") == [mixed["ach_invoice"], mixed["declined"]]
    assert walk_ids(api, invoice="INV-NEW", method="card") == [mixed["card_invoice"]]
    assert walk_ids(api, invoice="INV-404") == []
    assert walk_ids(api, amount_min=2_500, amount_max=7_000) == [
        mixed[name] for name in ("ach_invoice", "declined", "pay_button")
    ]
    assert walk_ids(api, amount_min=50_000) == [mixed["card_trust"]]
    assert walk_ids(api, unmatched="true") == [mixed["pay_button"]]


def test_declines_are_listed_unless_left_out(api: APIClient, mixed: dict[str, str]) -> None:
    # then
    assert mixed["declined"] in walk_ids(api)
    without = walk_ids(api, declines="false")
    assert mixed["declined"] not in without
    assert len(without) == 4
    assert walk_ids(api, declines="false", status="failed") == []


def test_another_firms_invoice_matches_nothing(
    api: APIClient, mixed: dict[str, str], other_firm: factories.FirmWithKey
) -> None:
    # given: the other firm has an invoice with one of our external ids
    theirs = factories.matter(factories.client(other_firm), external_id="M-X")
    factories.invoice(theirs, external_id="INV-X")

    # then
    assert walk_ids(api, invoice="INV-X") == []


def test_dates_are_days_in_the_firms_time_zone(
    api: APIClient, book: Book, firm: factories.FirmWithKey, session: Session
) -> None:
    # given: New York (UTC-4 in March 2026); 03:30 UTC on the 11th is 23:30 on the 10th there
    firm.firm.time_zone = "America/New_York"
    late_evening, next_morning = _at(
        session,
        [pay(book, invoices={book.new.id: 1_000}), pay(book, invoices={book.new.id: 1_000})],
        dt.datetime(2026, 3, 11, 3, 30, tzinfo=dt.UTC),
    )
    session.get(Payment, _row_id(session, next_morning)).created_at = dt.datetime(
        2026, 3, 11, 4, 0, tzinfo=dt.UTC
    )
    session.flush()

    # then
    assert walk_ids(api, created_to="2026-03-10") == [late_evening]
    assert walk_ids(api, created_from="2026-03-11") == [next_morning]
    assert walk_ids(api, created_from="2026-03-10", created_to="2026-03-11") == [
        late_evening,
        next_morning,
    ]


def _row_id(session: Session, public_id: str) -> int:
    return session.scalar(select(Payment.id).where(Payment.public_id == public_id))


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("date", ["card_invoice", "card_trust", "ach_invoice", "declined", "pay_button"]),
        ("-date", ["pay_button", "declined", "ach_invoice", "card_trust", "card_invoice"]),
        ("amount", ["card_invoice", "pay_button", "declined", "ach_invoice", "card_trust"]),
        ("-amount", ["card_trust", "ach_invoice", "declined", "pay_button", "card_invoice"]),
    ],
)
def test_sorted_pages_walk_every_payment_once(
    api: APIClient, mixed: dict[str, str], sort: str, order: list[str]
) -> None:
    # then
    assert walk_ids(api, sort=sort) == [mixed[name] for name in order]


def test_equal_amounts_keep_the_id_order_across_pages(api: APIClient, book: Book) -> None:
    # given
    made = [pay(book, invoices={book.new.id: 1_000}).public_id for _ in range(5)]

    # then
    assert walk_ids(api, sort="amount") == made
    assert walk_ids(api, sort="-amount") == made[::-1]


def _csv(api: APIClient, **params: Any) -> tuple[Any, list[dict[str, str]]]:
    response = api.get("/api/v1/payments", query_string={"format": "csv", **params})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return response, list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_the_csv_holds_exactly_what_the_list_shows(
    api: APIClient, mixed: dict[str, str], firm: factories.FirmWithKey
) -> None:
    # given
    params = {"sort": "-amount", "declines": "false"}

    # when
    response, rows = _csv(api, **params)

    # then
    assert response.get_data(as_text=True).splitlines()[0] == ",".join(HEADER)
    assert [row["payment"] for row in rows] == walk_ids(api, **params)
    assert "X-Next-Cursor" not in response.headers
    trust = next(row for row in rows if row["payment"] == mixed["card_trust"])
    assert trust | {"created_at": "", "instrument": "", "fee": ""} == {
        "payment": mixed["card_trust"],
        "created_at": "",
        "created_on": "2026-03-02",
        "status": "succeeded",
        "source": "link",
        "method": "card",
        "instrument": "",
        "currency": "USD",
        "total": "50000",
        "operating": "0",
        "trust": "50000",
        "refunded": "0",
        "fee": "",
        "client": "C-1",
        "matters": "M-2",
        "invoices": "",
        "payer_name": "Ada Client",
        "payer_email": "ada@example.com",
        "payer_reference": "",
        "unmatched": "false",
        "flags": "",
    }
    assert trust["created_at"].endswith("Z")
    assert int(trust["fee"]) >= 0
    stray = next(row for row in rows if row["payment"] == mixed["pay_button"])
    assert (stray["source"], stray["unmatched"], stray["flags"]) == (
        "pay_button",
        "true",
        "unmatched",
    )
    assert (stray["operating"], stray["payer_reference"]) == ("2500", "NO-SUCH-INVOICE")


def test_a_csv_page_carries_the_cursor_for_the_rest(api: APIClient, mixed: dict[str, str]) -> None:
    # when
    first, rows = _csv(api, limit=3)
    _, rest = _csv(api, limit=3, cursor=first.headers["X-Next-Cursor"])

    # then
    assert [row["payment"] for row in rows + rest] == list(mixed.values())


def test_accept_text_csv_asks_for_the_csv(api: APIClient, mixed: dict[str, str]) -> None:
    # when
    response = api.get(
        "/api/v1/payments", query_string={"method": "ach"}, headers={"Accept": "text/csv"}
    )

    # then
    assert response.mimetype == "text/csv"
    assert response.get_data(as_text=True).count("\r\n") == 2


def test_new_payments_record_their_source(api: APIClient, mixed: dict[str, str]) -> None:
    # when
    shown = {item["id"]: item["source"] for item in api.get("/api/v1/payments").get_json()["data"]}

    # then
    assert shown[mixed["pay_button"]] == PaymentSource.PAY_BUTTON
    assert shown[mixed["card_invoice"]] == PaymentSource.LINK


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"method": "cash"}, "method", "must be one of"),
        ({"account_kind": "escrow"}, "account_kind", "must be one of"),
        ({"source": "phone"}, "source", "must be one of"),
        ({"sort": "client"}, "sort", "must be one of"),
        ({"amount_min": "-1"}, "amount_min", "must not be negative"),
        ({"amount_min": "12.50"}, "amount_min", "integer"),
        (
            {"amount_min": "500", "amount_max": "100"},
            "amount_max",
            "amount_max must not be less than amount_min (500)",
        ),
        ({"invoice": "a/b"}, "invoice", "must not contain '/'"),
        ({"declines": "maybe"}, "declines", ""),
        ({"format": "xml"}, "format", "must be one of"),
    ],
)
def test_bad_manager_filters_are_422(
    api: APIClient, params: dict[str, str], parameter: str, words: str
) -> None:
    # when
    response = api.get("/api/v1/payments", query_string=params)

    # then
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert [error["parameter"] for error in errors] == [parameter]
    assert words in errors[0]["detail"]


def test_the_service_lists_declines_only_on_request(
    mixed: dict[str, str], firm: factories.FirmWithKey
) -> None:
    # when: the query the console calls, with its own defaults
    default = queries.payments_page(
        firm_id=firm.id, filters=PaymentFilters(), after_id=None, limit=10
    )
    asked = queries.payments_page(
        firm_id=firm.id, filters=PaymentFilters(declines=True), after_id=None, limit=10
    )

    # then
    assert mixed["declined"] not in [view.payment.public_id for view in default.items]
    assert mixed["declined"] in [view.payment.public_id for view in asked.items]
