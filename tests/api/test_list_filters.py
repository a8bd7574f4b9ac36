"""Filters on the back office's lists: GET /links, /invoices, /trust-entries and /payments.

Every filter narrows a firm's own rows; another firm's external id matches nothing (the list
routes never answer 404 for a reference), and a bad value is a 422 naming the parameter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from portal import clock
from portal.billing.models import Client, Matter
from portal.db import db
from portal.payments.models import Payment
from tests import factories
from tests.api.unmatched_books import public_payment
from tests.conftest import APIClient


def _walk(api: APIClient, path: str, key: str, **params: Any) -> tuple[list[str], int]:
    """Follow next_cursor to the end; return the `key` of every item seen and the page count."""
    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        query = dict(params)
        if cursor is not None:
            query["cursor"] = cursor
        response = api.get(path, query_string=query)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        seen += [item[key] for item in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, pages


def _parameters(response: Any) -> list[str]:
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    return [error["parameter"] for error in response.get_json()["errors"]]


@pytest.fixture
def two_clients(firm: factories.FirmWithKey) -> tuple[Client, Matter, Matter, Client, Matter]:
    """C-1 with matters M-1 and M-2, C-2 with matter M-3."""
    first = factories.client(firm, external_id="C-1")
    m1 = factories.matter(first, external_id="M-1")
    m2 = factories.matter(first, external_id="M-2")
    second = factories.client(firm, external_id="C-2")
    m3 = factories.matter(second, external_id="M-3")
    return first, m1, m2, second, m3


# GET /links


def test_links_are_listed_newest_first_as_get_shows_each(
    api: APIClient, two_clients: tuple[Client, Matter, Matter, Client, Matter]
) -> None:
    # given
    first, m1, _, second, _ = two_clients
    made = [factories.link(first).public_id, factories.link(second).public_id]
    made.append(factories.link(first, [m1]).public_id)

    # when
    response = api.get("/api/v1/links")

    # then
    body = response.get_json()
    assert [item["id"] for item in body["data"]] == made[::-1]
    assert body["data"][0] == api.get(f"/api/v1/links/{made[2]}").get_json()
    assert body["next_cursor"] is None


@pytest.mark.parametrize(("limit", "pages"), [(1, 5), (2, 3), (5, 1)])
def test_links_pages_walk_every_link_once(
    api: APIClient,
    two_clients: tuple[Client, Matter, Matter, Client, Matter],
    limit: int,
    pages: int,
) -> None:
    # given
    first = two_clients[0]
    made = [factories.link(first).public_id for _ in range(5)]

    # when
    seen, page_count = _walk(api, "/api/v1/links", "id", limit=limit)

    # then
    assert seen == made[::-1]
    assert page_count == pages


def test_links_filter_by_client_and_by_matter_they_can_see(
    api: APIClient, two_clients: tuple[Client, Matter, Matter, Client, Matter]
) -> None:
    # given
    first, m1, m2, second, _ = two_clients
    everything = factories.link(first).public_id
    only_m1 = factories.link(first, [m1]).public_id
    only_m2 = factories.link(first, [m2]).public_id
    theirs = factories.link(second).public_id

    # when
    by_client, _ = _walk(api, "/api/v1/links", "id", client="C-1")
    by_matter, _ = _walk(api, "/api/v1/links", "id", matter="M-1")
    by_both, _ = _walk(api, "/api/v1/links", "id", client="C-2", matter="M-1")
    by_m3, _ = _walk(api, "/api/v1/links", "id", matter="M-3")

    # then
    assert by_client == [only_m2, only_m1, everything]
    assert by_matter == [only_m1, everything]
    assert by_both == []
    assert by_m3 == [theirs]


def test_links_filter_by_state_now(
    api: APIClient, two_clients: tuple[Client, Matter, Matter, Client, Matter]
) -> None:
    # given
    first = two_clients[0]
    active = factories.link(first)
    expired = factories.link(first)
    expired.expires_at = clock.now() - dt.timedelta(seconds=1)
    revoked = factories.link(first)
    revoked.revoked_at = clock.now()
    db.session.flush()

    # when
    states = {
        state: _walk(api, "/api/v1/links", "id", state=state)[0]
        for state in ("active", "expired", "revoked")
    }

    # then
    assert states == {
        "active": [active.public_id],
        "expired": [expired.public_id],
        "revoked": [revoked.public_id],
    }
    listed = api.get("/api/v1/links", query_string={"state": "expired"}).get_json()
    assert listed["data"][0]["state"] == "expired"


def test_links_of_another_firm_are_never_listed(
    api: APIClient,
    other_api: APIClient,
    firm: factories.FirmWithKey,
    other_firm: factories.FirmWithKey,
) -> None:
    # given: both firms use the external id C-1
    mine = factories.link(factories.client(firm, external_id="C-1")).public_id
    theirs = factories.link(factories.client(other_firm, external_id="C-1")).public_id
    factories.link(factories.client(other_firm, external_id="C-THEIRS"))

    # when
    all_mine, _ = _walk(api, "/api/v1/links", "id")
    by_client, _ = _walk(api, "/api/v1/links", "id", client="C-1")
    by_their_client, _ = _walk(api, "/api/v1/links", "id", client="C-THEIRS")
    all_theirs, _ = _walk(other_api, "/api/v1/links", "id", client="C-1")

    # then
    assert all_mine == by_client == [mine]
    assert by_their_client == []
    assert all_theirs == [theirs]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"state": "dead"}, "state"),
        ({"client": ""}, "client"),
        ({"matter": "a/b"}, "matter"),
        ({"cursor": "nope"}, "cursor"),
        ({"status": "active"}, "status"),
    ],
)
def test_links_bad_filters_are_422_naming_the_parameter(
    api: APIClient, params: dict[str, str], parameter: str
) -> None:
    # when
    response = api.get("/api/v1/links", query_string=params)

    # then
    assert _parameters(response) == [parameter]


# GET /invoices


@pytest.fixture
def invoices(
    two_clients: tuple[Client, Matter, Matter, Client, Matter],
) -> None:
    """INV-A (M-1, open, due 2024-03-10), INV-B (M-2, paid, due 2024-03-20),
    INV-C (M-3, void, due 2024-03-30), INV-D (M-1, open, no due date)."""
    _, m1, m2, _, m3 = two_clients
    factories.invoice(m1, external_id="INV-A", number="1001", due_on=dt.date(2024, 3, 10))
    factories.invoice(
        m2, external_id="INV-B", number="1002", due_on=dt.date(2024, 3, 20), balance_due_minor=0
    )
    factories.invoice(
        m3,
        external_id="INV-C",
        number="1003",
        due_on=dt.date(2024, 3, 30),
        status="void",
    )
    factories.invoice(m1, external_id="INV-D", number="1001", due_on=None)


@pytest.mark.usefixtures("invoices")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["INV-A", "INV-B", "INV-C", "INV-D"]),
        ({"status": "open"}, ["INV-A", "INV-D"]),
        ({"status": "paid"}, ["INV-B"]),
        ({"status": "void"}, ["INV-C"]),
        ({"client": "C-1"}, ["INV-A", "INV-B", "INV-D"]),
        ({"client": "C-2"}, ["INV-C"]),
        ({"matter": "M-1"}, ["INV-A", "INV-D"]),
        ({"number": "1001"}, ["INV-A", "INV-D"]),
        ({"number": "100"}, []),
        ({"due_before": "2024-03-20"}, ["INV-A"]),
        ({"due_after": "2024-03-20"}, ["INV-C"]),
        ({"due_after": "2024-03-09", "due_before": "2024-03-30"}, ["INV-A", "INV-B"]),
        ({"client": "C-1", "status": "open", "due_before": "2024-04-01"}, ["INV-A"]),
        ({"client": "C-2", "matter": "M-1"}, []),
        ({"client": "NO-SUCH"}, []),
    ],
)
def test_invoices_filter(api: APIClient, params: dict[str, str], expected: list[str]) -> None:
    # when
    seen, _ = _walk(api, "/api/v1/invoices", "external_id", **params)

    # then
    assert seen == expected


@pytest.mark.usefixtures("invoices")
def test_filtered_invoices_keep_keyset_pages(api: APIClient) -> None:
    # when
    seen, pages = _walk(api, "/api/v1/invoices", "external_id", client="C-1", limit=1)

    # then
    assert seen == ["INV-A", "INV-B", "INV-D"]
    assert pages == 3


def test_invoices_of_another_firm_match_nothing(
    api: APIClient, firm: factories.FirmWithKey, foreign_matter: Matter
) -> None:
    # given: the other firm's client C-X and matter M-X
    factories.invoice(foreign_matter, external_id="INV-X", number="1001")
    factories.invoice(
        factories.matter(factories.client(firm, external_id="C-1"), external_id="M-1"),
        external_id="INV-MINE",
        number="1001",
    )

    # when
    by_client, _ = _walk(api, "/api/v1/invoices", "external_id", client="C-X")
    by_matter, _ = _walk(api, "/api/v1/invoices", "external_id", matter="M-X")
    by_number, _ = _walk(api, "/api/v1/invoices", "external_id", number="1001")

    # then
    assert by_client == by_matter == []
    assert by_number == ["INV-MINE"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"status": "overdue"}, "status"),
        ({"due_before": "2024-02-30"}, "due_before"),
        ({"due_after": "31/03/2024"}, "due_after"),
        ({"client": "a/b"}, "client"),
        ({"number": ""}, "number"),
        ({"number": "x" * 65}, "number"),
        ({"unknown": "1"}, "unknown"),
    ],
)
def test_invoices_bad_filters_are_422_naming_the_parameter(
    api: APIClient, params: dict[str, str], parameter: str
) -> None:
    # when
    response = api.get("/api/v1/invoices", query_string=params)

    # then
    assert _parameters(response) == [parameter]


def test_a_bad_date_says_how_to_write_one(api: APIClient) -> None:
    # when
    response = api.get("/api/v1/invoices", query_string={"due_before": "2024-3-1"})

    # then
    (error,) = response.get_json()["errors"]
    assert error == {
        "parameter": "due_before",
        "detail": "due_before must be a date written YYYY-MM-DD",
    }


# GET /trust-entries?matter=


def test_trust_entries_filter_by_matter_and_page(
    api: APIClient,
    two_clients: tuple[Client, Matter, Matter, Client, Matter],
    foreign_matter: Matter,
) -> None:
    # given
    _, m1, m2, _, _ = two_clients
    for n in range(3):
        factories.trust_entry(m1, 10_000, external_id=f"T-1-{n}")
    factories.trust_entry(m2, 10_000, external_id="T-2")
    factories.trust_entry(foreign_matter, 10_000, external_id="T-X")

    # when
    of_m1, pages = _walk(api, "/api/v1/trust-entries", "external_id", matter="M-1", limit=2)
    of_m2, _ = _walk(api, "/api/v1/trust-entries", "external_id", matter="M-2")
    of_theirs, _ = _walk(api, "/api/v1/trust-entries", "external_id", matter="M-X")
    everything, _ = _walk(api, "/api/v1/trust-entries", "external_id")

    # then
    assert of_m1 == ["T-1-0", "T-1-1", "T-1-2"]
    assert pages == 2
    assert of_m2 == ["T-2"]
    assert of_theirs == []
    assert everything == ["T-1-0", "T-1-1", "T-1-2", "T-2"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [({"matter": ""}, "matter"), ({"matter": "a/b"}, "matter"), ({"client": "C-1"}, "client")],
)
def test_trust_entries_bad_filters_are_422_naming_the_parameter(
    api: APIClient, params: dict[str, str], parameter: str
) -> None:
    # when
    response = api.get("/api/v1/trust-entries", query_string=params)

    # then
    assert _parameters(response) == [parameter]


# GET /payments?unmatched=true


def _public_payment(firm: factories.FirmWithKey, reference: str) -> Payment:
    """A card payment on the firm's public pay page, flagged as the page flags it."""
    return public_payment(firm.firm, reference)


def test_payments_filter_unmatched(
    api: APIClient, firm: factories.FirmWithKey, other_firm: factories.FirmWithKey
) -> None:
    # given
    matter = factories.matter(factories.client(firm, external_id="C-1"), external_id="M-1")
    factories.invoice(matter, number="INV-1001", total_minor=100_000)
    matched = _public_payment(firm, "INV-1001").public_id
    lost = [_public_payment(firm, f"NO-SUCH-{n}").public_id for n in range(3)]
    _public_payment(other_firm, "NO-SUCH-X")

    # when
    unmatched, pages = _walk(api, "/api/v1/payments", "id", unmatched="true", limit=2)
    others, _ = _walk(api, "/api/v1/payments", "id", unmatched="false")

    # then
    assert unmatched == lost
    assert pages == 2
    assert others == [matched]
    (item,) = api.get(
        "/api/v1/payments", query_string={"unmatched": "true", "limit": 1}
    ).get_json()["data"]
    assert [flag["code"] for flag in item["flags"]] == ["unmatched"]


def test_payments_unmatched_must_be_true_or_false(api: APIClient) -> None:
    # when
    response = api.get("/api/v1/payments", query_string={"unmatched": "maybe"})

    # then
    assert _parameters(response) == ["unmatched"]
