"""Bearer-key authentication, key-use bookkeeping, and problem+json for unknown routes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.services import Actor
from portal.firms import services as firms
from tests import factories
from tests.conftest import APIClient

#: Who acts in these tests: a staff user, as the console will call these use cases.
ACTOR = Actor.staff(7)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer mp_not-a-key-anyone-was-given",
        "Bearer not-even-the-right-prefix",
        "Token mp_something",
    ],
)
def test_missing_or_wrong_key_is_401_problem_with_challenge(
    client: FlaskClient, firm: factories.FirmWithKey, authorization: str | None
) -> None:
    # given
    headers = {} if authorization is None else {"Authorization": authorization}

    # when
    response = client.get("/api/v1/clients", headers=headers)

    # then
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.get_json()
    assert body["status"] == 401
    assert body["type"] == "/problems/unauthorized"


def test_revoked_key_is_401(client: FlaskClient, firm: factories.FirmWithKey) -> None:
    # given
    api_key = firms.authenticate(firm.key)
    firms.revoke_api_key(api_key, actor=ACTOR)

    # when
    response = client.get("/api/v1/clients", headers={"Authorization": f"Bearer {firm.key}"})

    # then
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_scheme_is_case_insensitive(client: FlaskClient, firm: factories.FirmWithKey) -> None:
    # when
    response = client.get("/api/v1/clients", headers={"Authorization": f"bearer {firm.key}"})

    # then
    assert response.status_code == 200


def test_401_applies_to_writes_before_reading_the_body(client: FlaskClient, session: Any) -> None:
    # when
    response = client.put("/api/v1/clients/C-1", data="{not json")

    # then
    assert response.status_code == 401


def test_openapi_document_is_public(client: FlaskClient) -> None:
    # when
    response = client.get("/api/v1/openapi.json")

    # then
    assert response.status_code == 200
    assert response.get_json()["openapi"] == "3.1.0"


@pytest.fixture
def api_key_updates(engine: Engine, session: Session) -> Iterator[list[str]]:
    """Every UPDATE of api_keys the app sends during the test."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield statements
    event.remove(engine, "before_cursor_execute", record)


def test_last_used_at_is_written_at_most_once_a_minute(
    api: APIClient,
    firm: factories.FirmWithKey,
    api_key_updates: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    start = dt.datetime(2025, 1, 6, 9, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(clock, "now", lambda: start)
    api_key = firms.authenticate(firm.key)

    # when
    for _ in range(5):
        assert api.get("/api/v1/clients").status_code == 200

    # then
    assert api_key.last_used_at == start
    assert len(api_key_updates) == 1

    # when a minute has passed
    later = start + dt.timedelta(seconds=61)
    monkeypatch.setattr(clock, "now", lambda: later)
    api.get("/api/v1/clients")
    api.get("/api/v1/clients")

    # then
    assert api_key.last_used_at == later
    assert len(api_key_updates) == 2


def test_unknown_api_route_is_404_problem(api: APIClient) -> None:
    # when
    response = api.get("/api/v1/no-such-thing")

    # then
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/clients"),
        ("delete", "/api/v1/clients/C-1"),
        ("put", "/api/v1/sync"),
        ("patch", "/api/v1/links/abc"),
    ],
)
def test_wrong_method_is_405_problem(api: APIClient, method: str, path: str) -> None:
    # when
    response = api.client.open(path, method=method.upper(), headers=api._headers(None))

    # then
    assert response.status_code == 405
    assert response.content_type == "application/problem+json"
    assert response.headers["Allow"]
