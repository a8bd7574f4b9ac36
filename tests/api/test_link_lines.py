"""POST /api/v1/links with `lines`: the allocation a link carries, checked line by line."""

from __future__ import annotations

from typing import Any

import pytest

from portal.billing.models import Invoice, Matter
from tests import factories
from tests.api.conftest import pointers
from tests.conftest import APIClient


@pytest.fixture
def invoice(a_matter: Matter) -> Invoice:
    return factories.invoice(a_matter, external_id="INV-1", number="INV-1", total_minor=60_000)


def test_a_link_carries_its_lines(api: APIClient, invoice: Invoice, a_matter: Matter) -> None:
    lines = [{"invoice": "INV-1", "amount": 25_000}, {"matter": "M-1", "trust_amount": 50_000}]
    response = api.post("/api/v1/links", json={"client": "C-1", "lines": lines})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["lines"] == [
        {"invoice": "INV-1", "amount": 25_000, "matter": "M-1", "trust_amount": None},
        {"invoice": None, "amount": None, "matter": "M-1", "trust_amount": 50_000},
    ]
    assert body["matters"] == ["M-1"]
    assert api.get(f"/api/v1/links/{body['id']}").get_json()["lines"] == body["lines"]


@pytest.mark.parametrize(
    ("line", "pointer"),
    [
        ({"invoice": "INV-1", "amount": 60_001}, "/lines/1/amount"),
        ({"invoice": "INV-1", "trust_amount": 100}, "/lines/1/amount"),
        ({"invoice": "INV-404", "amount": 100}, "/lines/1/invoice"),
        ({"invoice": "INV-X", "amount": 100}, "/lines/1/invoice"),  # another firm's
        ({"invoice": "INV-2", "amount": 100}, "/lines/1/invoice"),  # another client's
        ({"matter": "M-X", "trust_amount": 100}, "/lines/1/matter"),
        ({"matter": "M-1", "amount": 100}, "/lines/1/trust_amount"),
        ({"invoice": "INV-1", "matter": "M-1", "amount": 100}, "/lines/1/"),
        ({"invoice": "INV-1", "amount": 0}, "/lines/1/amount"),
        ({"invoice": "INV-1", "amount": "100"}, "/lines/1/amount"),
    ],
)
def test_a_bad_line_is_a_422_naming_it(
    api: APIClient,
    invoice: Invoice,
    firm: factories.FirmWithKey,
    foreign_matter: Matter,
    line: dict[str, Any],
    pointer: str,
) -> None:
    factories.invoice(foreign_matter, external_id="INV-X")
    factories.invoice(factories.matter(factories.client(firm)), external_id="INV-2")
    lines = [{"invoice": "INV-1", "amount": 100}, line]
    response = api.post("/api/v1/links", json={"client": "C-1", "lines": lines})
    assert response.status_code == 422, response.get_json()
    assert [p for p in pointers(response) if p.startswith(pointer)], pointers(response)


def test_the_same_invoice_twice_is_refused(api: APIClient, invoice: Invoice) -> None:
    lines = [{"invoice": "INV-1", "amount": 100}, {"invoice": "INV-1", "amount": 200}]
    response = api.post("/api/v1/links", json={"client": "C-1", "lines": lines})
    assert response.status_code == 422
    assert pointers(response) == ["/lines/1/invoice"]
