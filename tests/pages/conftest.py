"""Fixtures for the client pages: a browser-like `portal`, a movable clock, a query counter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from portal import clock
from portal.billing.models import Client, Matter
from portal.links import services as links
from portal.links.models import Link
from tests import factories
from tests.clocks import Clock

#: Pages are served over HTTPS only (the session cookie is Secure), so the tests use it too.
BASE_URL = "https://localhost"

#: A Monday, mid-afternoon in UTC, so "today" is the same date in every US time zone.
FROZEN_AT = dt.datetime(2026, 3, 16, 15, 0, tzinfo=dt.UTC)


class Portal:
    """The test client, used the way a client's browser uses the portal."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def open(self, link: Link | str) -> TestResponse:
        """Open a link (or a raw token) as if clicked in the email; redirects are not followed."""
        token = link if isinstance(link, str) else links.token_for(link)
        return self.client.get(f"/l/{token}", base_url=BASE_URL)

    def get(self, path: str) -> TestResponse:
        return self.client.get(path, base_url=BASE_URL)

    def session_cookie(self) -> str | None:
        cookie = self.client.get_cookie("matterpay_session", domain="localhost")
        return None if cookie is None else cookie.value


@pytest.fixture
def portal(client: FlaskClient) -> Portal:
    return Portal(client)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(FROZEN_AT)
    monkeypatch.setattr(clock, "now", fake)
    return fake


@pytest.fixture
def queries(session: Session) -> Iterator[list[str]]:
    """The SQL statements the test's connection runs, savepoint bookkeeping left out."""
    statements: list[str] = []
    connection = session.connection()
    assert isinstance(connection, Connection)

    def record(_conn, _cursor, statement: str, *_args: object) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    yield statements
    event.remove(connection, "before_cursor_execute", record)


@dataclass
class Household:
    """A client with two matters, and a second client of the same firm with one matter."""

    client: Client
    estate: Matter
    lawsuit: Matter
    neighbour: Client
    neighbours_matter: Matter


@pytest.fixture
def household(firm: factories.FirmWithKey, frozen_clock: Clock) -> Household:
    client = factories.client(firm, name="María Delgado", locale="en_US")
    neighbour = factories.client(firm, name="Ben Okoro")
    return Household(
        client=client,
        estate=factories.matter(client, number="2024-002", title="Estate of Rafael Delgado"),
        lawsuit=factories.matter(
            client,
            number="2024-001",
            title="Delgado v. Northside Realty",
            trust_minimum_minor=500_000,
        ),
        neighbour=neighbour,
        neighbours_matter=factories.matter(neighbour, number="2024-009", title="Okoro lease"),
    )
