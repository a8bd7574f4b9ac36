"""POST /api/v1/sync: many records in one transaction, all or nothing, repeatable."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import clock
from portal.backoffice import check
from portal.billing.models import Client, Invoice, Matter
from portal.ledger.models import TrustEntry
from tests import factories
from tests.api.conftest import client_body, entry_body, invoice_body, matter_body, pointers
from tests.conftest import APIClient


def graph(
    clients: int = 1,
    matters_each: int = 1,
    invoices_each: int = 1,
    entries_each: int = 1,
    prefix: str = "",
) -> dict[str, list[dict[str, Any]]]:
    """A sync body: each client with its matters, each matter with invoices and entries."""
    body: dict[str, list[dict[str, Any]]] = {
        "clients": [],
        "matters": [],
        "invoices": [],
        "trust_entries": [],
    }
    for c in range(clients):
        client = f"{prefix}C-{c}"
        body["clients"].append({"external_id": client, **client_body(name=f"Client {c}")})
        for m in range(matters_each):
            matter = f"{client}-M-{m}"
            body["matters"].append({"external_id": matter, **matter_body(client, number=matter)})
            for i in range(invoices_each):
                body["invoices"].append(
                    {"external_id": f"{matter}-I-{i}", **invoice_body(matter, number=f"I-{i}")}
                )
            for e in range(entries_each):
                body["trust_entries"].append(
                    {"external_id": f"{matter}-T-{e}", **entry_body(matter, amount=1000 + e)}
                )
    return body


def count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_records_may_refer_to_ones_earlier_in_the_same_sync(api: APIClient) -> None:
    # given
    body = graph(clients=2, matters_each=2, invoices_each=2, entries_each=1)

    # when
    response = api.post("/api/v1/sync", json=body)

    # then
    assert response.status_code == 200
    result = response.get_json()
    assert result["counts"] == {
        "clients": {"created": 2, "updated": 0, "unchanged": 0},
        "matters": {"created": 4, "updated": 0, "unchanged": 0},
        "invoices": {"created": 8, "updated": 0, "unchanged": 0},
        "trust_entries": {"created": 4, "updated": 0, "unchanged": 0},
    }
    assert result["results"]["matters"][0] == {"external_id": "C-0-M-0", "outcome": "created"}
    assert [r["external_id"] for r in result["results"]["invoices"]] == [
        r["external_id"] for r in body["invoices"]
    ]
    assert api.get("/api/v1/invoices/C-1-M-1-I-1").get_json()["matter"] == "C-1-M-1"


def test_repeating_a_sync_changes_nothing(api: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    body = graph(clients=2, matters_each=2, invoices_each=2, entries_each=2)
    api.post("/api/v1/sync", json=body)
    before = api.get("/api/v1/invoices").get_json()["data"]
    later = clock.now() + dt.timedelta(days=1)
    monkeypatch.setattr(clock, "now", lambda: later)

    # when
    response = api.post("/api/v1/sync", json=body)

    # then
    assert response.status_code == 200
    for kind, counts in response.get_json()["counts"].items():
        assert counts["created"] == counts["updated"] == 0, kind
    outcomes = {r["outcome"] for rs in response.get_json()["results"].values() for r in rs}
    assert outcomes == {"unchanged"}
    assert api.get("/api/v1/invoices").get_json()["data"] == before


def test_sync_reports_each_outcome(api: APIClient, a_client: Client, a_matter: Matter) -> None:
    # given
    api.put("/api/v1/clients/C-1", json=client_body())

    # when
    response = api.post(
        "/api/v1/sync",
        json={
            "clients": [
                {"external_id": "C-1", **client_body()},
                {"external_id": "C-2", **client_body()},
            ],
            "matters": [{"external_id": "M-1", **matter_body("C-2", number="changed")}],
        },
    )

    # then
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert results["clients"] == [
        {"external_id": "C-1", "outcome": "unchanged"},
        {"external_id": "C-2", "outcome": "created"},
    ]
    assert results["matters"] == [{"external_id": "M-1", "outcome": "updated"}]
    assert results["invoices"] == results["trust_entries"] == []
    assert api.get("/api/v1/matters/M-1").get_json()["client"] == "C-2"


def test_one_bad_record_saves_nothing_and_every_bad_record_is_listed(
    api: APIClient, session: Session, foreign_matter: Matter
) -> None:
    # given: good records, plus a few bad ones of each sort of problem
    body = graph(clients=2, matters_each=1, invoices_each=3, entries_each=1)
    body["invoices"][1]["total"] = 10.0  # not an integer
    body["invoices"][2]["balance_due"] = 999_999  # more than total
    body["invoices"][4]["matter"] = "M-NOBODY"  # unknown reference
    body["trust_entries"][1]["matter"] = "M-X"  # another firm's matter
    body["clients"][1]["email"] = "not-an-email"
    body["matters"].append({"external_id": "C-9-M", **matter_body("C-9")})  # unknown client
    before = [count(session, model) for model in (Client, Matter, Invoice, TrustEntry)]

    # when
    response = api.post("/api/v1/sync", json=body)

    # then
    assert response.status_code == 422
    assert pointers(response) == [
        "/clients/1/email",
        "/matters/2/client",
        "/invoices/1/total",
        "/invoices/2/balance_due",
        "/invoices/4/matter",
        "/trust_entries/1/matter",
    ]
    assert [count(session, model) for model in (Client, Matter, Invoice, TrustEntry)] == before
    assert api.get("/api/v1/clients/C-0").status_code == 404


def test_references_to_a_refused_record_are_not_reported_again(api: APIClient) -> None:
    # given: the client is malformed; its matter and invoice refer to it correctly
    body = graph(clients=1, matters_each=1, invoices_each=1, entries_each=0)
    body["clients"][0]["locale"] = "zz_ZZ"

    # when
    response = api.post("/api/v1/sync", json=body)

    # then
    assert response.status_code == 422
    assert pointers(response) == ["/clients/0/locale"]


def test_references_across_firms_fail_inside_a_sync(api: APIClient, other_api: APIClient) -> None:
    # given
    assert other_api.post("/api/v1/sync", json=graph(prefix="X")).status_code == 200

    # when
    response = api.post(
        "/api/v1/sync",
        json={
            "invoices": [{"external_id": "I-1", **invoice_body("XC-0-M-0")}],
        },
    )

    # then
    assert response.status_code == 422
    assert pointers(response) == ["/invoices/0/matter"]


def test_an_external_id_sent_twice_is_refused(api: APIClient) -> None:
    # given
    body = {
        "clients": [
            {"external_id": "C-1", **client_body()},
            {"external_id": "C-2", **client_body()},
            {"external_id": "C-1", **client_body(name="Someone else")},
        ]
    }

    # when
    response = api.post("/api/v1/sync", json=body)

    # then
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {
            "pointer": "/clients/2/external_id",
            "detail": "external_id 'C-1' is sent twice (first at /clients/0)",
        }
    ]


def test_changing_a_recorded_trust_entry_in_a_sync_is_409(api: APIClient) -> None:
    # given
    body = graph()
    api.post("/api/v1/sync", json=body)
    body["trust_entries"][0]["amount"] = 1

    # when
    response = api.post("/api/v1/sync", json=body)

    # then
    assert response.status_code == 409
    assert response.get_json()["type"] == "/problems/ledger-append-only"
    assert pointers(response) == ["/trust_entries/0/amount"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"clients": "C-1"}, "/clients"),
        ({"clients": [["C-1"]]}, "/clients/0"),
        ({"clients": [{"name": "No id"}]}, "/clients/0/external_id"),
        ({"payments": []}, "/payments"),
    ],
)
def test_malformed_sync_body_is_422(api: APIClient, body: Any, pointer: str) -> None:
    # when
    response = api.post("/api/v1/sync", json=body)

    # then
    assert response.status_code == 422
    assert pointers(response) == [pointer]


def test_an_empty_sync_is_fine(api: APIClient) -> None:
    # when
    response = api.post("/api/v1/sync", json={})

    # then
    assert response.status_code == 200
    assert response.get_json()["results"] == {
        "clients": [],
        "matters": [],
        "invoices": [],
        "trust_entries": [],
    }


def test_more_records_than_the_cap_is_413(
    api: APIClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.setitem(app.config, "SYNC_MAX_RECORDS", 10)

    # when
    response = api.post(
        "/api/v1/sync", json=graph(clients=3, matters_each=1, invoices_each=1, entries_each=1)
    )

    # then
    assert response.status_code == 413
    assert response.get_json()["type"] == "/problems/too-many-records"
    assert "at most 10 records" in response.get_json()["detail"]


@pytest.mark.slow
def test_five_thousand_records_in_one_sync(api: APIClient, session: Session) -> None:
    # given: 500 clients, 1,000 matters, 2,000 invoices and 1,500 trust entries
    body = graph(clients=500, matters_each=2, invoices_each=2, entries_each=1)
    body["trust_entries"] += [
        {**entry, "external_id": entry["external_id"] + "-b"}
        for entry in body["trust_entries"][:500]
    ]
    assert sum(len(records) for records in body.values()) == 5_000

    # when
    started = time.perf_counter()
    created = api.post("/api/v1/sync", json=body)
    first = time.perf_counter() - started
    started = time.perf_counter()
    repeated = api.post("/api/v1/sync", json=body)
    second = time.perf_counter() - started

    # then
    assert created.status_code == repeated.status_code == 200
    assert sum(c["created"] for c in created.get_json()["counts"].values()) == 5_000
    assert sum(c["unchanged"] for c in repeated.get_json()["counts"].values()) == 5_000
    assert count(session, Invoice) == 2_000
    # Generous bounds (machines vary): about 1 s is typical on SQLite and on PostgreSQL.
    assert first < 30
    assert second < 30


def test_an_insert_race_is_retried_as_an_update(
    api: APIClient, firm: factories.FirmWithKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: another request inserted C-1 after our request looked and found nothing
    factories.client(firm, external_id="C-1", name="Inserted by the other request")
    real_lookup = check._by_external_id
    misses = iter([True])

    def lookup_that_misses_once(model: Any, firm_id: int, external_ids: Any) -> Any:
        if model is Client and next(misses, False):
            return {}
        return real_lookup(model, firm_id, external_ids)

    monkeypatch.setattr(check, "_by_external_id", lookup_that_misses_once)

    # when
    response = api.put("/api/v1/clients/C-1", json=client_body(name="Ana"))

    # then: the insert hit the unique constraint, the savepoint took it back, and the retry
    # found the row and updated it instead of answering 500
    assert response.status_code == 200
    assert response.get_json()["name"] == "Ana"
    assert api.get("/api/v1/clients/C-1").get_json()["name"] == "Ana"
