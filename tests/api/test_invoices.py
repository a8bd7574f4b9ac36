"""PUT/GET /api/v1/invoices: strict integer amounts, date rules, and the stored status."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from portal import clock
from portal.billing.models import Invoice, Matter
from tests.api.conftest import invoice_body, pointers, without
from tests.conftest import APIClient

MAX = 99_999_999_999


def test_put_creates_then_get_reads_back(api: APIClient, a_matter: Matter) -> None:
    # when
    created = api.put("/api/v1/invoices/INV-1", json=invoice_body("M-1"))
    fetched = api.get("/api/v1/invoices/INV-1")

    # then
    assert created.status_code == 201
    assert fetched.get_json() == created.get_json()
    body = fetched.get_json()
    assert body["external_id"] == "INV-1"
    assert body["matter"] == "M-1"
    assert (body["total"], body["balance_due"]) == (125_000, 125_000)
    assert (body["issued_on"], body["due_on"]) == ("2024-03-01", "2024-03-31")
    assert body["status"] == "open"
    assert body["paid_at"] is None


def test_same_put_twice_is_unchanged(api: APIClient, a_matter: Matter) -> None:
    # given
    first = api.put("/api/v1/invoices/INV-1", json=invoice_body("M-1"))

    # when
    again = api.put("/api/v1/invoices/INV-1", json=invoice_body("M-1"))

    # then
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("total", 10.0, "total must be a JSON integer of minor units"),
        ("total", 1250.5, "total must be a JSON integer"),
        ("total", "100", "not a string"),
        ("total", True, "not true/false"),
        ("total", None, "total must be a JSON integer"),
        ("total", -1, "total must not be negative"),
        ("total", MAX + 1, "total must be at most 99999999999"),
        ("balance_due", 10.0, "balance_due must be a JSON integer"),
        ("balance_due", "100", "balance_due must be a JSON integer"),
        ("balance_due", False, "not true/false"),
        ("balance_due", -5, "balance_due must not be negative"),
        ("balance_due", 125_001, "balance_due must not be more than total (125000)"),
        ("currency", "EUR", "currency must be a currency this firm takes (USD), not EUR"),
        ("currency", "US", "currency must be a three-letter ISO 4217 code"),
        ("due_on", "2024-02-28", "due_on must not be before issued_on (2024-03-01)"),
        ("issued_on", "03/01/2024", "issued_on must be a date written YYYY-MM-DD"),
        ("issued_on", "2024-02-30", "issued_on must be a real calendar date"),
        ("issued_on", "20240301", "issued_on must be a date written YYYY-MM-DD"),
        ("issued_on", 20240301, "issued_on must be a date written YYYY-MM-DD"),
        ("due_on", "2024-03-31T00:00:00", "due_on must be a date written YYYY-MM-DD"),
        ("status", "paid", "status must be one of 'open' or 'void'"),
        ("matter", "M-NOBODY", "matter 'M-NOBODY' does not exist"),
        ("matter", "M-X", "matter 'M-X' does not exist"),  # another firm's
        ("matter", "a/b", "matter must not contain '/'"),
        ("description", 12, "description must be a string"),
        ("paid", True, "paid is not a field this endpoint accepts"),
    ],
)
def test_invalid_invoice_is_422_naming_the_field(
    api: APIClient, a_matter: Matter, foreign_matter: Matter, field: str, value: Any, words: str
) -> None:
    # given
    body = {**invoice_body("M-1"), field: value}

    # when
    response = api.put("/api/v1/invoices/INV-1", json=body)

    # then
    assert response.status_code == 422
    assert pointers(response) == [f"/{field}"]
    assert words in response.get_json()["errors"][0]["detail"]
    assert api.get("/api/v1/invoices/INV-1").status_code == 404


def test_largest_amount_is_accepted(api: APIClient, a_matter: Matter) -> None:
    # when
    response = api.put(
        "/api/v1/invoices/INV-1", json=invoice_body("M-1", total=MAX, balance_due=MAX)
    )

    # then
    assert response.status_code == 201
    assert response.get_json()["total"] == MAX


@pytest.mark.parametrize(
    "field", ["matter", "number", "issued_on", "currency", "total", "balance_due"]
)
def test_required_fields(api: APIClient, a_matter: Matter, field: str) -> None:
    # when
    response = api.put("/api/v1/invoices/INV-1", json=without(invoice_body("M-1"), field))

    # then
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"pointer": f"/{field}", "detail": f"{field} is required"}
    ]


def test_every_invalid_field_is_listed(api: APIClient, a_matter: Matter) -> None:
    # when
    response = api.put(
        "/api/v1/invoices/INV-1",
        json=invoice_body("M-1", total=10.0, currency="EUR", issued_on="soon", extra=1),
    )

    # then
    assert sorted(pointers(response)) == ["/currency", "/extra", "/issued_on", "/total"]


def test_optional_fields_have_defaults(api: APIClient, a_matter: Matter) -> None:
    # given
    body = without(without(invoice_body("M-1"), "due_on"), "description")

    # when
    response = api.put("/api/v1/invoices/INV-1", json=body)

    # then
    assert response.status_code == 201
    assert response.get_json()["due_on"] is None
    assert response.get_json()["description"] == ""


@pytest.mark.parametrize(
    ("status", "balance_due", "stored"),
    [
        ("open", 125_000, "open"),
        ("open", 1, "open"),
        ("open", 0, "paid"),
        ("void", 125_000, "void"),
        ("void", 0, "void"),
    ],
)
def test_stored_status(
    api: APIClient, a_matter: Matter, status: str, balance_due: int, stored: str
) -> None:
    # when
    response = api.put(
        "/api/v1/invoices/INV-1",
        json=invoice_body("M-1", status=status, balance_due=balance_due),
    )

    # then
    assert response.get_json()["status"] == stored
    assert (response.get_json()["paid_at"] is not None) == (stored == "paid")


def test_paid_at_is_set_when_paid_kept_while_paid_and_cleared_when_reopened(
    api: APIClient, a_matter: Matter, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    start = clock.now()
    monkeypatch.setattr(clock, "now", lambda: start)
    api.put("/api/v1/invoices/INV-1", json=invoice_body("M-1"))

    # when paid off
    paid = api.put("/api/v1/invoices/INV-1", json=invoice_body("M-1", balance_due=0)).get_json()

    # then
    assert paid["status"] == "paid"
    assert dt.datetime.fromisoformat(paid["paid_at"]) == start

    # when sent again, paid, an hour later with a new description
    monkeypatch.setattr(clock, "now", lambda: start + dt.timedelta(hours=1))
    again = api.put(
        "/api/v1/invoices/INV-1", json=invoice_body("M-1", balance_due=0, description="Paid")
    ).get_json()

    # then the first payment time stays
    assert dt.datetime.fromisoformat(again["paid_at"]) == start

    # when reopened
    reopened = api.put("/api/v1/invoices/INV-1", json=invoice_body("M-1", balance_due=10))

    # then
    assert reopened.get_json()["status"] == "open"
    assert reopened.get_json()["paid_at"] is None
    invoice = session.query(Invoice).filter_by(external_id="INV-1").one()
    assert invoice.balance_due_minor == 10


def test_another_firms_invoice_is_404(
    api: APIClient, other_api: APIClient, foreign_matter: Matter
) -> None:
    # given
    assert other_api.put("/api/v1/invoices/INV-X", json=invoice_body("M-X")).status_code == 201

    # when
    response = api.get("/api/v1/invoices/INV-X")

    # then
    assert response.status_code == 404
