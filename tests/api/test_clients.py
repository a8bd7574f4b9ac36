"""PUT/GET /api/v1/clients: upsert by external id, what is refused, and firm scoping."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from portal import clock
from portal.billing.models import Client
from tests import factories
from tests.api.conftest import client_body, pointers, without
from tests.conftest import APIClient


def test_put_creates_then_get_reads_back(api: APIClient) -> None:
    # when
    created = api.put("/api/v1/clients/C-1", json=client_body())
    fetched = api.get("/api/v1/clients/C-1")

    # then
    assert created.status_code == 201
    assert fetched.status_code == 200
    body = fetched.get_json()
    assert body == created.get_json()
    assert body["external_id"] == "C-1"
    assert body["name"] == "Ana Morales"
    assert body["email"] == "ana@example.com"
    assert body["locale"] == "es_US"
    assert body["updated_at"].endswith("Z")
    assert dt.datetime.fromisoformat(body["created_at"]).tzinfo is not None


def test_same_put_twice_is_unchanged_and_keeps_updated_at(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    first = api.put("/api/v1/clients/C-1", json=client_body()).get_json()
    later = clock.now() + dt.timedelta(hours=1)
    monkeypatch.setattr(clock, "now", lambda: later)

    # when
    again = api.put("/api/v1/clients/C-1", json=client_body())

    # then
    assert again.status_code == 200
    assert again.get_json() == first


def test_changed_put_updates_and_moves_updated_at(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    first = api.put("/api/v1/clients/C-1", json=client_body()).get_json()
    later = clock.now() + dt.timedelta(hours=1)
    monkeypatch.setattr(clock, "now", lambda: later)

    # when
    response = api.put("/api/v1/clients/C-1", json=client_body(name="Ana Morales-Ruiz"))

    # then
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "Ana Morales-Ruiz"
    assert body["created_at"] == first["created_at"]
    assert dt.datetime.fromisoformat(body["updated_at"]) == later


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("es-US", "es_US"), ("es_US", "es_US"), ("fr-CA", "fr_CA"), ("en", "en"), (None, None)],
)
def test_locale_is_normalised(api: APIClient, sent: str | None, stored: str | None) -> None:
    # when
    response = api.put("/api/v1/clients/C-1", json=client_body(locale=sent))

    # then
    assert response.status_code == 201
    assert response.get_json()["locale"] == stored


def test_email_and_locale_are_optional(api: APIClient) -> None:
    # when
    response = api.put("/api/v1/clients/C-1", json={"name": "Ana"})

    # then
    assert response.status_code == 201
    assert response.get_json()["email"] is None


@pytest.mark.parametrize(
    ("body", "pointer", "words"),
    [
        (client_body(locale="xx_YY"), "/locale", "locale"),
        (client_body(locale="not a locale"), "/locale", "locale"),
        (client_body(locale=12), "/locale", "locale must be a string"),
        (client_body(email="ana-at-example.com"), "/email", "email is not a valid email address"),
        (client_body(email="ana@"), "/email", "email"),
        (without(client_body(), "name"), "/name", "name is required"),
        (client_body(name="   "), "/name", "name must not be empty"),
        (client_body(name="x" * 201), "/name", "name must be at most 200 characters"),
        (client_body(name=None), "/name", "name must be a string"),
        (client_body(nickname="Ani"), "/nickname", "nickname is not a field"),
        (client_body(external_id="C-1"), "/external_id", "external_id is not a field"),
    ],
)
def test_invalid_client_is_422_pointing_at_the_field(
    api: APIClient, body: dict[str, Any], pointer: str, words: str
) -> None:
    # when
    response = api.put("/api/v1/clients/C-1", json=body)

    # then
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == "/problems/validation-error"
    assert pointers(response) == [pointer]
    assert words in problem["errors"][0]["detail"]
    assert api.get("/api/v1/clients/C-1").status_code == 404


@pytest.mark.parametrize(
    "data", ["{not json", "", "[1, 2]", '"a string"', "null", "42", '{"name": NaN}']
)
def test_malformed_or_non_object_body_is_400(api: APIClient, data: str) -> None:
    # when
    response = api.put(
        "/api/v1/clients/C-1", data=data, headers={"Content-Type": "application/json"}
    )

    # then
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert response.get_json()["type"] == "/problems/malformed-body"


@pytest.mark.parametrize("external_id", ["x" * 101, "bad%00id"])
def test_bad_external_id_in_path_is_422(api: APIClient, external_id: str) -> None:
    # when
    response = api.put(f"/api/v1/clients/{external_id}", json=client_body())

    # then
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["parameter"] == "external_id"


def test_another_firms_client_is_404_like_a_missing_one(
    api: APIClient, other_firm: factories.FirmWithKey
) -> None:
    # given
    factories.client(other_firm, external_id="C-THEIRS")

    # when
    theirs = api.get("/api/v1/clients/C-THEIRS")
    missing = api.get("/api/v1/clients/C-NOBODY")

    # then
    assert theirs.status_code == missing.status_code == 404
    assert without(theirs.get_json(), "instance") == without(missing.get_json(), "instance")


def test_same_external_id_in_two_firms_is_two_clients(
    api: APIClient, other_api: APIClient, session: Any
) -> None:
    # when
    mine = api.put("/api/v1/clients/C-1", json=client_body(name="Mine"))
    theirs = other_api.put("/api/v1/clients/C-1", json=client_body(name="Theirs"))

    # then
    assert mine.status_code == theirs.status_code == 201
    assert api.get("/api/v1/clients/C-1").get_json()["name"] == "Mine"
    assert other_api.get("/api/v1/clients/C-1").get_json()["name"] == "Theirs"
    assert session.query(Client).filter_by(external_id="C-1").count() == 2
