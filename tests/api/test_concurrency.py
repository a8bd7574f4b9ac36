"""Concurrent upserts of the same new external ids, on a real committed database.

These requests run in threads, each with its own connection, so they cannot share the
rolled-back transaction of the other tests: they use the shared committed database
(`committed_app` in tests/conftest.py), emptied before each test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.billing.models import Client
from portal.db import db
from tests import factories
from tests.api.conftest import client_body

THREADS = 4


@pytest.fixture
def race_app(committed_app: Flask) -> Iterator[tuple[Flask, str]]:
    """The shared committed database (see tests/conftest.py), plus a firm's API key."""
    with committed_app.app_context():
        with db.transaction():
            key = factories.firm_with_key("Race & Co").key
        yield committed_app, key


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
    race_app: tuple[Flask, str],
) -> None:
    # given
    app, key = race_app
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
    race_app: tuple[Flask, str],
) -> None:
    # given
    app, key = race_app
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
