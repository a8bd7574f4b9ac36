"""GET /api/v1/{collection}: keyset pages in id order, walked with an opaque cursor."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from portal.billing.models import Client, Matter
from tests import factories
from tests.api.conftest import entry_body, invoice_body
from tests.conftest import APIClient


def _walk(api: APIClient, path: str, limit: int | None) -> tuple[list[str], int]:
    """Follow next_cursor to the end; return every external id seen and the page count."""
    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        params: dict[str, Any] = {}
        if limit is not None:
            params["limit"] = limit
        if cursor is not None:
            params["cursor"] = cursor
        response = api.get(path, query_string=params)
        assert response.status_code == 200
        body = response.get_json()
        assert set(body) == {"data", "next_cursor"}
        seen += [item["external_id"] for item in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, pages


@pytest.mark.parametrize(("limit", "pages"), [(1, 7), (3, 3), (7, 1), (6, 2), (500, 1)])
def test_pages_walk_every_client_exactly_once_in_id_order(
    api: APIClient, firm: factories.FirmWithKey, limit: int, pages: int
) -> None:
    # given
    made = [factories.client(firm, external_id=f"C-{n:02d}").external_id for n in range(7)]

    # when
    seen, page_count = _walk(api, "/api/v1/clients", limit)

    # then
    assert seen == made
    assert page_count == pages


def test_default_page_size_comes_from_config(
    api: APIClient, app: Flask, firm: factories.FirmWithKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.setitem(app.config, "API_PAGE_SIZE", 2)
    for n in range(5):
        factories.client(firm, external_id=f"C-{n}")

    # when
    seen, pages = _walk(api, "/api/v1/clients", None)

    # then
    assert len(seen) == 5
    assert pages == 3


def test_other_firms_records_are_not_listed(
    api: APIClient, firm: factories.FirmWithKey, other_firm: factories.FirmWithKey
) -> None:
    # given
    factories.client(other_firm, external_id="C-THEIRS")
    factories.client(firm, external_id="C-MINE")

    # when
    seen, _ = _walk(api, "/api/v1/clients", 1)

    # then
    assert seen == ["C-MINE"]


def test_every_collection_lists(api: APIClient, a_client: Client, a_matter: Matter) -> None:
    # given
    api.put("/api/v1/invoices/INV-1", json=invoice_body("M-1"))
    api.put("/api/v1/invoices/INV-2", json=invoice_body("M-1", number="INV-1002"))
    api.put("/api/v1/trust-entries/T-1", json=entry_body("M-1"))

    # when
    matters, _ = _walk(api, "/api/v1/matters", 1)
    invoices, _ = _walk(api, "/api/v1/invoices", 1)
    entries, _ = _walk(api, "/api/v1/trust-entries", 1)

    # then
    assert matters == ["M-1"]
    assert invoices == ["INV-1", "INV-2"]
    assert entries == ["T-1"]
    listed = api.get("/api/v1/invoices").get_json()["data"][0]
    assert listed == api.get("/api/v1/invoices/INV-1").get_json()


def test_records_added_while_walking_are_not_repeated(
    api: APIClient, firm: factories.FirmWithKey
) -> None:
    # given
    for n in range(4):
        factories.client(firm, external_id=f"C-{n}")
    first = api.get("/api/v1/clients", query_string={"limit": 2}).get_json()

    # when
    factories.client(firm, external_id="C-NEW")
    rest, _ = _walk_from(api, first["next_cursor"])

    # then
    assert [c["external_id"] for c in first["data"]] + rest == ["C-0", "C-1", "C-2", "C-3", "C-NEW"]


def _walk_from(api: APIClient, cursor: str) -> tuple[list[str], int]:
    seen: list[str] = []
    pages = 0
    while cursor is not None:
        body = api.get("/api/v1/clients", query_string={"limit": 2, "cursor": cursor}).get_json()
        seen += [item["external_id"] for item in body["data"]]
        cursor = body["next_cursor"]
        pages += 1
    return seen, pages


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"limit": 0}, "limit", "limit must be at least 1"),
        ({"limit": 501}, "limit", "limit must be at most 500"),
        ({"limit": "ten"}, "limit", "limit must be an integer"),
        ({"cursor": "not-a-cursor"}, "cursor", "cursor is not a cursor this API returned"),
        ({"cursor": "YWZ0ZXI6LTE"}, "cursor", "cursor is not a cursor"),  # "after:-1"
        ({"page": 2}, "page", "page is not a field"),
    ],
)
def test_bad_list_parameters_are_422(
    api: APIClient, params: dict[str, Any], parameter: str, words: str
) -> None:
    # when
    response = api.get("/api/v1/clients", query_string=params)

    # then
    assert response.status_code == 422
    error = response.get_json()["errors"][0]
    assert error["parameter"] == parameter
    assert words in error["detail"]
