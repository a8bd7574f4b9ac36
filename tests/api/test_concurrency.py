"""Concurrent upserts of the same new external ids, on a real committed database.

These requests run in threads, each with its own connection, so they cannot share the
rolled-back transaction of the other tests: this module builds its own database (a scratch
SQLite file, or a scratch schema when the suite runs on PostgreSQL) and drops it afterwards.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from portal import schema
from portal.billing.models import Client
from portal.db import db, make_engine
from tests import factories
from tests.api.conftest import client_body
from tests.conftest import fresh_pg_schema, make_test_app

RACE_SCHEMA = "matterpay_api_race"
THREADS = 4


@pytest.fixture
def committed_app(tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    """An app on its own empty, migrated database, plus a firm's API key (committed)."""
    url = os.environ.get("PORTAL_TEST_DATABASE_URL")
    postgres = bool(url) and make_url(url).get_backend_name() == "postgresql"
    url = fresh_pg_schema(url, RACE_SCHEMA) if postgres else f"sqlite:///{tmp_path}/race.db"
    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    app = make_test_app(url)
    with app.app_context():
        with db.transaction():
            key = factories.firm_with_key("Race & Co").key
        yield app, key
        app.extensions["portal.engine"].dispose()
    if postgres:
        admin = make_engine(os.environ["PORTAL_TEST_DATABASE_URL"])
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{RACE_SCHEMA}" CASCADE'))
        admin.dispose()


def _together(app: Flask, calls: list[Any]) -> list[Any]:
    """Run each call in its own thread, released at the same moment."""
    start = threading.Barrier(len(calls))

    def run(call: Any) -> Any:
        start.wait()
        with app.app_context():
            return call(app.test_client())

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_concurrent_puts_of_one_new_external_id_never_fail(
    committed_app: tuple[Flask, str],
) -> None:
    # given
    app, key = committed_app
    headers = {"Authorization": f"Bearer {key}"}

    for round_ in range(5):
        external_id = f"C-{round_}"

        # when
        responses = _together(
            app,
            [
                lambda http, n=n, external_id=external_id: http.put(
                    f"/api/v1/clients/{external_id}",
                    json=client_body(name=f"Writer {n}"),
                    headers=headers,
                )
                for n in range(THREADS)
            ],
        )

        # then: one request created the client; the others updated or left it
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200] * (THREADS - 1) + [201], [r.get_json() for r in responses]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Client)) == 5


def test_concurrent_syncs_of_the_same_new_records_never_fail(
    committed_app: tuple[Flask, str],
) -> None:
    # given
    app, key = committed_app
    headers = {"Authorization": f"Bearer {key}"}
    body = {"clients": [{"external_id": f"C-{n}", **client_body()} for n in range(200)]}

    # when
    responses = _together(
        app,
        [
            lambda http: http.post("/api/v1/sync", json=body, headers=headers)
            for _ in range(THREADS)
        ],
    )

    # then: every record was created exactly once, by one of the requests
    assert [response.status_code for response in responses] == [200] * THREADS
    created = sum(r.get_json()["counts"]["clients"]["created"] for r in responses)
    assert created == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Client)) == 200
