"""PUT/GET /api/v1/matters: the client reference, the currency default, the trust minimum."""

from __future__ import annotations

from typing import Any

import pytest

from portal.billing.models import Client, Matter
from portal.firms.models import MerchantAccount, MerchantAccountKind
from tests import factories
from tests.api.conftest import entry_body, matter_body, pointers, without
from tests.conftest import APIClient


def test_put_creates_then_get_reads_back(api: APIClient, a_client: Client) -> None:
    # when
    created = api.put("/api/v1/matters/M-1", json=matter_body("C-1"))
    fetched = api.get("/api/v1/matters/M-1")

    # then
    assert created.status_code == 201
    assert fetched.get_json() == created.get_json()
    body = fetched.get_json()
    assert body["external_id"] == "M-1"
    assert body["client"] == "C-1"
    assert body["trust_minimum"] == 500_000
    assert body["currency"] == "USD"  # the firm's trust account currency


def test_same_put_twice_is_unchanged(api: APIClient, a_client: Client) -> None:
    # given
    first = api.put("/api/v1/matters/M-1", json=matter_body("C-1"))

    # when
    again = api.put("/api/v1/matters/M-1", json=matter_body("C-1"))

    # then
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()


def test_matter_can_move_to_another_client(
    api: APIClient, firm: factories.FirmWithKey, a_client: Client
) -> None:
    # given
    factories.client(firm, external_id="C-2")
    api.put("/api/v1/matters/M-1", json=matter_body("C-1"))

    # when
    response = api.put("/api/v1/matters/M-1", json=matter_body("C-2", trust_minimum=None))

    # then
    assert response.status_code == 200
    assert response.get_json()["client"] == "C-2"
    assert response.get_json()["trust_minimum"] is None


def test_currency_defaults_to_the_trust_account_currency(
    api: APIClient, firm: factories.FirmWithKey, session: Any
) -> None:
    # given a firm whose trust account takes CAD
    trust = next(a for a in firm.firm.merchant_accounts if a.kind is MerchantAccountKind.TRUST)
    trust.currency = "CAD"
    session.flush()
    factories.client(firm, external_id="C-1")

    # when
    response = api.put("/api/v1/matters/M-1", json=matter_body("C-1"))

    # then
    assert response.get_json()["currency"] == "CAD"


def test_currency_may_be_any_the_firm_takes(
    api: APIClient, firm: factories.FirmWithKey, a_client: Client, session: Any
) -> None:
    # given
    session.add(
        MerchantAccount(
            firm_id=firm.id, kind=MerchantAccountKind.TRUST, label="CAD trust", currency="CAD"
        )
    )
    session.flush()

    # when
    response = api.put("/api/v1/matters/M-1", json=matter_body("C-1", currency="CAD"))

    # then
    assert response.status_code == 201
    assert response.get_json()["currency"] == "CAD"


@pytest.mark.parametrize(
    ("changes", "pointer", "words"),
    [
        ({"client": "C-NOBODY"}, "/client", "client 'C-NOBODY' does not exist"),
        ({"client": "C-X"}, "/client", "client 'C-X' does not exist"),  # another firm's
        ({"currency": "EUR"}, "/currency", "must be a currency this firm takes (USD), not EUR"),
        ({"currency": "usd"}, "/currency", "three-letter ISO 4217"),
        ({"currency": "XYZ"}, "/currency", "currency must be an ISO 4217 currency code, not XYZ"),
        ({"trust_minimum": 10.0}, "/trust_minimum", "integer of minor units"),
        ({"trust_minimum": "100"}, "/trust_minimum", "not a string"),
        ({"trust_minimum": True}, "/trust_minimum", "not true/false"),
        ({"trust_minimum": -1}, "/trust_minimum", "trust_minimum must not be negative"),
        ({"trust_minimum": 100_000_000_000}, "/trust_minimum", "at most 99999999999"),
        ({"number": ""}, "/number", "number must not be empty"),
        ({"title": "x" * 301}, "/title", "title must be at most 300"),
    ],
)
def test_invalid_matter_is_422(
    api: APIClient,
    a_client: Client,
    foreign_matter: Matter,
    changes: dict[str, Any],
    pointer: str,
    words: str,
) -> None:
    # when
    response = api.put("/api/v1/matters/M-1", json={**matter_body("C-1"), **changes})

    # then
    assert response.status_code == 422
    assert pointers(response) == [pointer]
    assert words in response.get_json()["errors"][0]["detail"]


@pytest.mark.parametrize("field", ["client", "number", "title"])
def test_required_fields(api: APIClient, a_client: Client, field: str) -> None:
    # when
    response = api.put("/api/v1/matters/M-1", json=without(matter_body("C-1"), field))

    # then
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"pointer": f"/{field}", "detail": f"{field} is required"}
    ]


def test_unknown_client_answer_is_the_same_for_another_firms_client(
    api: APIClient, a_client: Client, foreign_matter: Matter
) -> None:
    # when
    theirs = api.put("/api/v1/matters/M-1", json=matter_body("C-X"))
    missing = api.put("/api/v1/matters/M-1", json=matter_body("C-Y"))

    # then
    assert theirs.status_code == missing.status_code == 422
    assert (
        theirs.get_json()["errors"][0]["detail"].replace("C-X", "C-Y")
        == (missing.get_json()["errors"][0]["detail"])
    )


def test_currency_cannot_change_once_the_matter_has_trust_entries(
    api: APIClient, firm: factories.FirmWithKey, a_client: Client, session: Any
) -> None:
    # given
    session.add(
        MerchantAccount(
            firm_id=firm.id, kind=MerchantAccountKind.TRUST, label="CAD trust", currency="CAD"
        )
    )
    session.flush()
    api.put("/api/v1/matters/M-1", json=matter_body("C-1"))
    assert api.put("/api/v1/trust-entries/T-1", json=entry_body("M-1")).status_code == 201

    # when
    response = api.put("/api/v1/matters/M-1", json=matter_body("C-1", currency="CAD"))

    # then
    assert response.status_code == 422
    assert pointers(response) == ["/currency"]


def test_another_firms_matter_is_404(api: APIClient, foreign_matter: Matter) -> None:
    # when
    response = api.get("/api/v1/matters/M-X")

    # then
    assert response.status_code == 404
