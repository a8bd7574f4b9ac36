"""Fixtures for flows that need committed data: real threads, subprocesses, live servers.

These cannot use the rolled-back per-test session (a second connection would not see its
rows), so they get their own migrated database — SQLite in a temp folder, or a separate
PostgreSQL schema when the suite runs on PostgreSQL — emptied before each test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy.engine import make_url

from portal import schema
from portal.db import make_engine
from portal.models import Base
from tests.conftest import RUN, drop_pg_schema, fresh_pg_schema, make_test_app


@pytest.fixture(scope="session")
def committed_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("PORTAL_TEST_DATABASE_URL")
    is_pg = bool(base) and make_url(base or "").get_backend_name() == "postgresql"
    if is_pg:
        url = fresh_pg_schema(base or "", f"matterpay_flows_{RUN}")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('flows') / 'flows.sqlite3'}"
    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    yield url
    if is_pg:
        drop_pg_schema(base or "", f"matterpay_flows_{RUN}")


@pytest.fixture
def committed_app(committed_url: str) -> Iterator[Flask]:
    """An app on the committed database, emptied before the test."""
    engine = make_engine(committed_url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()
    app = make_test_app(committed_url)
    yield app
    app.extensions["portal.engine"].dispose()
