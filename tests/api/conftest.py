"""Helpers for the API tests: valid request bodies to vary, and a small graph per firm."""

from __future__ import annotations

from typing import Any

import pytest

from portal.billing.models import Client, Matter
from tests import factories


def client_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Ana Morales", "email": "ana@example.com", "locale": "es_US"}
    body.update(changes)
    return body


def matter_body(client: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client": client,
        "number": "2024-0042",
        "title": "Morales v. Acme",
        "trust_minimum": 500_000,
    }
    body.update(changes)
    return body


def invoice_body(matter: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "matter": matter,
        "number": "INV-1001",
        "issued_on": "2024-03-01",
        "due_on": "2024-03-31",
        "currency": "USD",
        "total": 125_000,
        "balance_due": 125_000,
        "description": "March legal services",
    }
    body.update(changes)
    return body


def entry_body(matter: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "matter": matter,
        "posted_on": "2024-03-02",
        "amount": 250_000,
        "currency": "USD",
        "description": "Retainer deposit",
    }
    body.update(changes)
    return body


def without(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != name}


def pointers(response: Any) -> list[str]:
    """The JSON pointers of a 422's errors, in order."""
    return [error["pointer"] for error in response.get_json()["errors"]]


@pytest.fixture
def a_client(firm: factories.FirmWithKey) -> Client:
    return factories.client(firm, external_id="C-1")


@pytest.fixture
def a_matter(a_client: Client) -> Matter:
    return factories.matter(a_client, external_id="M-1")


@pytest.fixture
def foreign_matter(other_firm: factories.FirmWithKey) -> Matter:
    """A matter of another firm, with ids a test may also use in the first firm."""
    return factories.matter(factories.client(other_firm, external_id="C-X"), external_id="M-X")
