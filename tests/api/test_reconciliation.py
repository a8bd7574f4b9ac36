"""GET /api/v1/reconciliation: per merchant account and day, JSON and CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlalchemy.orm import Session

from portal import clock
from portal.firms import services as firms
from portal.payments.models import PaymentMethod
from tests import factories
from tests.api.payment_books import make_book, settle_ach
from tests.conftest import APIClient
from tests.payments.conftest import ACH_RETURNED, Book, pay


@pytest.fixture
def book(session: Session, firm: factories.FirmWithKey) -> Book:
    return make_book(firm)


def _today() -> str:
    return clock.today().isoformat()


def _report(api: APIClient, **params: str) -> Any:
    query = {"from": _today(), "to": _today(), **params}
    return api.get("/api/v1/reconciliation", query_string=query)


def _history(api: APIClient, book: Book) -> dict[str, Any]:
    """A card payment to operating and trust, a partial refund of it, and an ACH return."""
    card = pay(book, invoices={book.old.id: 120_000}, trust={book.matter.id: 50_000})
    operating = card.charges[0]
    (line,) = operating.allocations
    refund = api.post(
        f"/api/v1/payments/{card.public_id}/refunds",
        json={"allocations": [{"allocation": line.id, "amount": 20_000}]},
        headers={"Idempotency-Key": "rec-1"},
    )
    assert refund.status_code == 201
    ach = pay(
        book, invoices={book.new.id: 30_000}, method=PaymentMethod.ACH, instrument=ACH_RETURNED
    )
    settle_ach(ach)
    return {"card": card, "ach": ach}


def test_lines_totals_and_payments_balance(api: APIClient, book: Book) -> None:
    # given
    made = _history(api, book)
    card, ach = made["card"], made["ach"]
    op_charge, trust_charge = card.charges
    (ach_charge,) = ach.charges
    assert ach_charge.status.value == "returned"

    # when
    response = _report(api)

    # then
    assert response.status_code == 200
    body = response.get_json()
    assert (body["from"], body["to"]) == (_today(), _today())
    lines = {line["kind"]: line for line in body["lines"]}
    assert set(lines) == {"operating", "trust"}
    operating, trust = lines["operating"], lines["trust"]
    assert operating["day"] == trust["day"] == _today()
    assert operating["currency"] == "USD"
    # the trust line never shows a fee: operating bears the trust charge's fee
    assert trust["fees"] == 0
    fees = (op_charge.fee_minor or 0) + (trust_charge.fee_minor or 0) + (ach_charge.fee_minor or 0)
    assert trust_charge.fee_minor and trust_charge.fee_minor > 0
    assert operating["fees"] == fees
    assert operating["gross"] == 120_000 + 30_000
    assert operating["refunds"] == 20_000
    assert operating["returns"] == 30_000
    assert operating["disputes"] == 0
    assert operating["net"] == 150_000 - fees - 20_000 - 30_000
    assert (trust["gross"], trust["refunds"], trust["returns"], trust["net"]) == (
        50_000,
        0,
        0,
        50_000,
    )
    # totals per account are the sums of their lines
    totals = {total["kind"]: total for total in body["totals"]}
    for kind, total in totals.items():
        for column in ("gross", "fees", "refunds", "returns", "disputes", "net"):
            assert total[column] == sum(x[column] for x in body["lines"] if x["kind"] == kind)
    # the payments list balances with the lines
    payments = {payment["id"]: payment for payment in body["payments"]}
    assert set(payments) == {card.public_id, ach.public_id}
    assert payments[card.public_id]["status"] == "succeeded"
    assert payments[ach.public_id]["status"] == "returned"
    charges = [charge for payment in body["payments"] for charge in payment["charges"]]
    expected = sum(c["amount"] - c["fee"] - c["refunded"] - c["reversed"] for c in charges)
    assert sum(total["net"] for total in body["totals"]) == expected
    first = payments[card.public_id]["charges"][0]
    assert (first["amount"], first["refunded"], first["fee"]) == (
        120_000,
        20_000,
        op_charge.fee_minor,
    )


def test_a_period_without_activity_is_empty(api: APIClient, book: Book) -> None:
    pay(book, invoices={book.old.id: 120_000})
    response = _report(api, **{"from": "2001-01-01", "to": "2001-12-31"})
    assert response.status_code == 200
    assert response.get_json()["lines"] == response.get_json()["payments"] == []


@pytest.mark.parametrize("how", ["format", "accept"])
def test_the_csv_form(api: APIClient, book: Book, how: str) -> None:
    # given
    made = _history(api, book)

    # when
    if how == "format":
        response = _report(api, format="csv")
    else:
        response = api.get(
            "/api/v1/reconciliation",
            query_string={"from": _today(), "to": _today()},
            headers={"Accept": "text/csv"},
        )

    # then
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    days = {row["kind"]: row for row in rows if row["record"] == "day"}
    json_body = _report(api).get_json()
    for line in json_body["lines"]:
        for column in ("gross", "fees", "refunds", "returns", "disputes", "net"):
            assert int(days[line["kind"]][column]) == line[column]
    assert days["trust"]["fees"] == "0"
    assert {row["kind"] for row in rows if row["record"] == "total"} == {"operating", "trust"}
    charge_rows = [row for row in rows if row["record"] == "charge"]
    assert {row["payment"] for row in charge_rows} == {
        made["card"].public_id,
        made["ach"].public_id,
    }
    assert all(row["amount"].isdigit() for row in charge_rows)


def test_format_json_wins_over_accept(api: APIClient, book: Book) -> None:
    pay(book, invoices={book.old.id: 120_000})
    response = api.get(
        "/api/v1/reconciliation",
        query_string={"from": _today(), "to": _today(), "format": "json"},
        headers={"Accept": "text/csv"},
    )
    assert response.status_code == 200 and response.mimetype == "application/json"


def _parameters(response: Any) -> list[str]:
    return [error["parameter"] for error in response.get_json()["errors"]]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"to": "2024-01-31"}, "from"),
        ({"from": "2024-01-01"}, "to"),
        ({"from": "2024-13-01", "to": "2024-12-31"}, "from"),
        ({"from": "2024-01-01", "to": "20240131"}, "to"),
        ({"from": "2024-02-01", "to": "2024-01-31"}, "to"),
        ({"from": "2024-01-01", "to": "2025-01-01"}, "to"),
        ({"from": "2024-01-01", "to": "2024-01-31", "format": "xml"}, "format"),
        ({"from": "2024-01-01", "to": "2024-01-31", "color": "red"}, "color"),
    ],
)
def test_bad_parameters_are_422(api: APIClient, query: dict[str, str], parameter: str) -> None:
    response = api.get("/api/v1/reconciliation", query_string=query)
    assert response.status_code == 422
    assert _parameters(response) == [parameter]
    assert parameter in response.get_json()["errors"][0]["detail"]


def test_366_days_are_allowed(api: APIClient) -> None:
    response = api.get(
        "/api/v1/reconciliation", query_string={"from": "2024-01-01", "to": "2024-12-31"}
    )
    assert response.status_code == 200


def test_another_firms_money_never_appears(
    api: APIClient, other_api: APIClient, book: Book, other_firm: factories.FirmWithKey
) -> None:
    # given a payment in each firm
    mine = pay(book, invoices={book.old.id: 120_000}, trust={book.matter.id: 50_000})
    other_book = make_other_book(other_firm)
    theirs = pay(other_book, trust={other_book.matter.id: 7_000})

    # when
    body = _report(api).get_json()
    other_body = _report(other_api).get_json()
    other_csv = _report(other_api, format="csv").get_data(as_text=True)

    # then
    assert [p["id"] for p in body["payments"]] == [mine.public_id]
    assert [p["id"] for p in other_body["payments"]] == [theirs.public_id]
    assert sum(line["gross"] for line in body["lines"]) == 170_000
    assert sum(line["gross"] for line in other_body["lines"]) == 7_000
    assert mine.public_id not in other_csv


def make_other_book(other_firm: factories.FirmWithKey) -> Book:
    person = factories.client(other_firm, external_id="C-O")
    matter = factories.matter(person, external_id="M-O")
    return Book(person, matter, matter, None, None, factories.link(person))  # type: ignore[arg-type]


def test_the_document_describes_both_forms_and_the_csv_it_describes_is_what_is_sent(
    api: APIClient, book: Book
) -> None:
    # given the OpenAPI document's 200 answer of the reconciliation route
    document = api.get("/api/v1/openapi.json").get_json()
    ok = document["paths"]["/api/v1/reconciliation"]["get"]["responses"]["200"]
    # then it offers JSON and CSV
    assert set(ok["content"]) == {"application/json", "text/csv"}
    assert ok["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReconciliationOut"
    }
    described = ok["content"]["text/csv"]
    assert described["schema"]["type"] == "string"
    # and its example has the header row and width of the CSV actually sent
    example = list(csv.reader(io.StringIO(described["example"])))
    _history(api, book)
    sent = list(csv.reader(io.StringIO(_report(api, format="csv").get_data(as_text=True))))
    assert example[0] == sent[0]
    assert {len(row) for row in example} == {len(row) for row in sent} == {len(sent[0])}
    assert ", ".join(sent[0]) in described["schema"]["description"]


def test_one_account_only(api: APIClient, book: Book, firm: factories.FirmWithKey) -> None:
    made = _history(api, book)
    card, ach = made["card"], made["ach"]
    accounts = {a.kind.value: a.public_id for a in firms.merchant_accounts_of(firm.id)}

    trust = _report(api, account=accounts["trust"]).get_json()
    operating = _report(api, account=accounts["operating"]).get_json()

    assert [line["kind"] for line in trust["lines"]] == ["trust"]
    assert [total["kind"] for total in trust["totals"]] == ["trust"]
    assert [payment["id"] for payment in trust["payments"]] == [card.public_id]
    assert [line["kind"] for line in operating["lines"]] == ["operating"]
    assert {p["id"] for p in operating["payments"]} == {card.public_id, ach.public_id}
    whole = _report(api).get_json()
    assert whole["lines"] == operating["lines"] + trust["lines"]
    # the CSV keeps to the account too
    rows = list(csv.reader(io.StringIO(_report(api, account=accounts["trust"], format="csv").text)))
    assert {row[1] for row in rows[1:] if row[0] != "charge"} == {"trust"}


def test_an_unknown_or_another_firms_account_is_404(
    api: APIClient, other_firm: factories.FirmWithKey
) -> None:
    theirs = firms.merchant_accounts_of(other_firm.id)[0].public_id
    for account in ("ma_nothing", theirs):
        response = _report(api, account=account)
        assert response.status_code == 404
        assert response.content_type == "application/problem+json"
