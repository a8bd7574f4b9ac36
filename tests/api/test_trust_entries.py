"""PUT/GET /api/v1/trust-entries: an append-only ledger, in the matter's currency."""

from __future__ import annotations

from typing import Any

import pytest

from portal.billing.models import Matter
from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.ledger import services as ledger
from tests import factories
from tests.api.conftest import entry_body, pointers, without
from tests.conftest import APIClient


def test_put_records_then_get_reads_back(api: APIClient, a_matter: Matter) -> None:
    # when
    created = api.put("/api/v1/trust-entries/T-1", json=entry_body("M-1"))
    fetched = api.get("/api/v1/trust-entries/T-1")

    # then
    assert created.status_code == 201
    assert fetched.get_json() == created.get_json()
    body = fetched.get_json()
    assert body["external_id"] == "T-1"
    assert body["matter"] == "M-1"
    assert body["amount"] == 250_000
    assert body["posted_on"] == "2024-03-02"


def test_same_entry_twice_is_200_unchanged(api: APIClient, a_matter: Matter) -> None:
    # given
    first = api.put("/api/v1/trust-entries/T-1", json=entry_body("M-1"))

    # when
    again = api.put("/api/v1/trust-entries/T-1", json=entry_body("M-1"))

    # then
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"amount": 240_000}, "/amount"),
        ({"posted_on": "2024-03-03"}, "/posted_on"),
        ({"description": "Retainer deposit (corrected)"}, "/description"),
        ({"matter": "M-2"}, "/matter"),
    ],
)
def test_changing_a_recorded_entry_is_409_append_only(
    api: APIClient, a_matter: Matter, changes: dict[str, Any], pointer: str
) -> None:
    # given
    factories.matter(a_matter.client, external_id="M-2")
    api.put("/api/v1/trust-entries/T-1", json=entry_body("M-1"))

    # when
    response = api.put("/api/v1/trust-entries/T-1", json={**entry_body("M-1"), **changes})

    # then
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == "/problems/ledger-append-only"
    assert "new external_id" in problem["detail"]
    assert pointers(response) == [pointer]
    assert api.get("/api/v1/trust-entries/T-1").get_json()["amount"] == 250_000


def test_a_correction_is_a_new_entry(api: APIClient, a_matter: Matter) -> None:
    # given
    api.put("/api/v1/trust-entries/T-1", json=entry_body("M-1", amount=250_000))

    # when
    response = api.put(
        "/api/v1/trust-entries/T-2",
        json=entry_body("M-1", amount=-10_000, description="Correct T-1"),
    )

    # then
    assert response.status_code == 201
    assert ledger.trust_balance(a_matter.id) == 240_000


def test_entries_cannot_be_deleted(api: APIClient, a_matter: Matter) -> None:
    # given
    api.put("/api/v1/trust-entries/T-1", json=entry_body("M-1"))

    # when
    response = api.delete("/api/v1/trust-entries/T-1")

    # then
    assert response.status_code == 405
    assert api.get("/api/v1/trust-entries/T-1").status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("amount", 0, "amount must not be zero"),
        ("amount", 10.0, "amount must be a JSON integer of minor units"),
        ("amount", "100", "not a string"),
        ("amount", True, "not true/false"),
        ("amount", 100_000_000_000, "amount must be at most 99999999999"),
        ("amount", -100_000_000_000, "amount must be at least -99999999999"),
        ("currency", "EUR", "must be a currency this firm takes"),
        ("matter", "M-NOBODY", "matter 'M-NOBODY' does not exist"),
        ("matter", "M-X", "matter 'M-X' does not exist"),
        ("posted_on", "yesterday", "posted_on must be a date written YYYY-MM-DD"),
        ("kind", "deposit", "kind is not a field"),
    ],
)
def test_invalid_entry_is_422(
    api: APIClient, a_matter: Matter, foreign_matter: Matter, field: str, value: Any, words: str
) -> None:
    # when
    response = api.put("/api/v1/trust-entries/T-1", json={**entry_body("M-1"), field: value})

    # then
    assert response.status_code == 422
    assert pointers(response) == [f"/{field}"]
    assert words in response.get_json()["errors"][0]["detail"]


@pytest.mark.parametrize("field", ["matter", "posted_on", "amount", "currency"])
def test_required_fields(api: APIClient, a_matter: Matter, field: str) -> None:
    # when
    response = api.put("/api/v1/trust-entries/T-1", json=without(entry_body("M-1"), field))

    # then
    assert response.status_code == 422
    assert pointers(response) == [f"/{field}"]


def test_currency_must_be_the_matters(
    api: APIClient, firm: factories.FirmWithKey, a_matter: Matter, session: Any
) -> None:
    # given a firm that takes CAD too, and a USD matter
    session.add(
        MerchantAccount(
            firm_id=firm.id, kind=MerchantAccountKind.TRUST, label="CAD trust", currency="CAD"
        )
    )
    session.flush()

    # when
    response = api.put("/api/v1/trust-entries/T-1", json=entry_body("M-1", currency="CAD"))

    # then
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"pointer": "/currency", "detail": "currency must be the matter's currency, USD"}
    ]


def test_disbursements_are_negative_and_the_balance_is_the_sum(
    api: APIClient, a_matter: Matter
) -> None:
    # given
    for external_id, amount in [("T-1", 500_000), ("T-2", -120_000), ("T-3", -30_000)]:
        api.put(f"/api/v1/trust-entries/{external_id}", json=entry_body("M-1", amount=amount))

    # then
    assert ledger.trust_balance(a_matter.id) == 350_000
    assert ledger.trust_balances([a_matter.id, 10**9]) == {a_matter.id: 350_000, 10**9: 0}


def test_another_firms_entry_is_404(
    api: APIClient, other_api: APIClient, foreign_matter: Matter
) -> None:
    # given
    assert other_api.put("/api/v1/trust-entries/T-X", json=entry_body("M-X")).status_code == 201

    # when
    response = api.get("/api/v1/trust-entries/T-X")

    # then
    assert response.status_code == 404
