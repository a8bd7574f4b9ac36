"""POST/GET/DELETE /api/v1/links: issue a client link, read its state, revoke it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask

from portal import clock
from portal.billing.models import Client, Matter
from portal.links import services as links
from tests import factories
from tests.api.conftest import pointers
from tests.conftest import APIClient


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    now = dt.datetime(2025, 3, 3, 15, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(clock, "now", lambda: now)
    return now


def test_create_link_for_a_client(
    api: APIClient, a_client: Client, frozen_now: dt.datetime
) -> None:
    # when
    response = api.post("/api/v1/links", json={"client": "C-1"})

    # then
    assert response.status_code == 201
    body = response.get_json()
    assert body["client"] == "C-1"
    assert body["matters"] == []
    assert body["state"] == "active"
    assert body["open_count"] == 0
    assert body["url"].startswith("http://localhost/l/")
    assert dt.datetime.fromisoformat(body["expires_at"]) == frozen_now + dt.timedelta(days=1)
    assert links.link_for_firm(a_client.firm_id, body["id"]).client_id == a_client.id


def test_get_shows_state_but_never_the_url(api: APIClient, a_matter: Matter) -> None:
    # given
    created = api.post(
        "/api/v1/links", json={"client": "C-1", "matters": ["M-1"], "expires_in": 3600}
    ).get_json()

    # when
    response = api.get(f"/api/v1/links/{created['id']}")

    # then
    assert response.status_code == 200
    body = response.get_json()
    assert "url" not in body
    assert "token" not in str(body)
    assert created["url"].rsplit("/", 1)[1] not in str(body)
    assert body == {key: value for key, value in created.items() if key != "url"}
    assert body["matters"] == ["M-1"]
    assert set(body) == {
        "id",
        "state",
        "client",
        "matters",
        "created_at",
        "expires_at",
        "revoked_at",
        "first_opened_at",
        "last_opened_at",
        "open_count",
        "deliveries",
        "lines",
        "replaces",
    }
    assert body["deliveries"] == []
    assert body["replaces"] is None


def test_get_reports_opens(api: APIClient, a_client: Client) -> None:
    # given
    created = api.post("/api/v1/links", json={"client": "C-1"}).get_json()
    links.open_link(created["url"].rsplit("/", 1)[1])

    # when
    body = api.get(f"/api/v1/links/{created['id']}").get_json()

    # then
    assert body["open_count"] == 1
    assert body["first_opened_at"] is not None
    assert body["last_opened_at"] == body["first_opened_at"]


def test_link_expires(
    api: APIClient, a_client: Client, frozen_now: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    created = api.post("/api/v1/links", json={"client": "C-1", "expires_in": 60}).get_json()

    # when
    monkeypatch.setattr(clock, "now", lambda: frozen_now + dt.timedelta(seconds=60))
    body = api.get(f"/api/v1/links/{created['id']}").get_json()

    # then
    assert body["state"] == "expired"


def test_delete_revokes_and_is_idempotent(
    api: APIClient, a_client: Client, frozen_now: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    created = api.post("/api/v1/links", json={"client": "C-1"}).get_json()

    # when
    first = api.delete(f"/api/v1/links/{created['id']}")
    monkeypatch.setattr(clock, "now", lambda: frozen_now + dt.timedelta(minutes=5))
    second = api.delete(f"/api/v1/links/{created['id']}")

    # then
    assert first.status_code == second.status_code == 200
    assert first.get_json()["state"] == "revoked"
    assert dt.datetime.fromisoformat(first.get_json()["revoked_at"]) == frozen_now
    assert second.get_json()["revoked_at"] == first.get_json()["revoked_at"]
    assert api.get(f"/api/v1/links/{created['id']}").get_json()["state"] == "revoked"


@pytest.mark.parametrize(
    ("expires_in", "status", "words"),
    [
        (60, 201, None),
        (86_400, 201, None),
        (59, 422, "expires_in must be at least 60"),
        (86_401, 422, "expires_in must be at most 86400"),
        (0, 422, "expires_in must be at least 60"),
        (3600.0, 422, "expires_in must be an integer"),
        ("3600", 422, "expires_in must be an integer"),
        (True, 422, "expires_in must be an integer"),
    ],
)
def test_expires_in_bounds(
    api: APIClient, a_client: Client, expires_in: Any, status: int, words: str | None
) -> None:
    # when
    response = api.post("/api/v1/links", json={"client": "C-1", "expires_in": expires_in})

    # then
    assert response.status_code == status
    if words:
        assert pointers(response) == ["/expires_in"]
        assert words in response.get_json()["errors"][0]["detail"]


def test_expires_in_may_not_exceed_a_lower_configured_maximum(
    api: APIClient, app: Flask, a_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.setitem(app.config, "LINK_MAX_AGE_SECONDS", 3600)

    # when
    too_long = api.post("/api/v1/links", json={"client": "C-1", "expires_in": 3601})
    default = api.post("/api/v1/links", json={"client": "C-1"})

    # then
    assert too_long.status_code == 422
    assert too_long.get_json()["errors"] == [
        {"pointer": "/expires_in", "detail": "expires_in must be at most 3600 seconds"}
    ]
    created_at = dt.datetime.fromisoformat(default.get_json()["created_at"])
    expires_at = dt.datetime.fromisoformat(default.get_json()["expires_at"])
    assert expires_at - created_at == dt.timedelta(hours=1)


def test_matters_must_be_the_clients_own(
    api: APIClient, firm: factories.FirmWithKey, a_matter: Matter, foreign_matter: Matter
) -> None:
    # given
    someone_else = factories.client(firm, external_id="C-2")
    factories.matter(someone_else, external_id="M-2")

    # when
    response = api.post(
        "/api/v1/links", json={"client": "C-1", "matters": ["M-1", "M-2", "M-X", "M-NOBODY"]}
    )

    # then
    assert response.status_code == 422
    assert pointers(response) == ["/matters/1", "/matters/2", "/matters/3"]
    details = [error["detail"] for error in response.get_json()["errors"]]
    assert details[0] == "matters[1] 'M-2' is not a matter of client 'C-1'"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"client": "C-NOBODY"}, "/client"),
        ({"client": "C-X"}, "/client"),  # another firm's client
        ({}, "/client"),
        ({"client": "C-1", "matters": "M-1"}, "/matters"),
        ({"client": "C-1", "scope": "all"}, "/scope"),
    ],
)
def test_invalid_link_requests_are_422(
    api: APIClient, a_client: Client, foreign_matter: Matter, body: dict[str, Any], pointer: str
) -> None:
    # when
    response = api.post("/api/v1/links", json=body)

    # then
    assert response.status_code == 422
    assert pointers(response) == [pointer]


def test_another_firms_link_is_404_to_read_and_to_revoke(
    api: APIClient, other_api: APIClient, foreign_matter: Matter
) -> None:
    # given
    theirs = other_api.post("/api/v1/links", json={"client": "C-X"}).get_json()

    # when
    read = api.get(f"/api/v1/links/{theirs['id']}")
    revoke = api.delete(f"/api/v1/links/{theirs['id']}")
    missing = api.get("/api/v1/links/no-such-link")

    # then
    assert read.status_code == revoke.status_code == missing.status_code == 404
    assert read.get_json()["title"] == missing.get_json()["title"]
    assert other_api.get(f"/api/v1/links/{theirs['id']}").get_json()["state"] == "active"
