"""Shared fixtures: one migrated database per run, each test inside a rolled-back transaction.

The database is SQLite in a temporary folder unless PORTAL_TEST_DATABASE_URL names another
(CI runs the whole suite a second time on PostgreSQL). A PostgreSQL URL gets schemas of its
own, named after this process and dropped at the end, so the suite never touches anything
else there and two runs at once (two developers, or helpers) never drop each other's data.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from portal import create_app, schema
from portal.db import db, make_engine
from portal.models import Base
from tests import factories
from tests.mailbox import Inbox, inbox_fixture

_TEST_INSTANCE = tempfile.mkdtemp(prefix="matterpay-test-instance-")
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
RUN = os.getpid()
PG_SCHEMA = f"matterpay_test_{RUN}"
_LIMITER_STATE = "tests.limiter_state"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile any message catalog whose .mo is missing or older than its .po.

    `make install` (and so `make test`) compiles them; this covers a suite started directly
    after a `git pull` brought new translations.
    """
    from portal import catalogs

    catalogs.compile_stale()
    _quiet_between_phases()


def _quiet_between_phases() -> None:
    """Keep background threads' log lines off the terminal between a test's phases.

    pytest captures the standard error only while a test's setup, call or teardown runs; a
    live server's or SMTP server's thread that logs in the gap between two (a browser still
    fetching a script) wrote its JSON line into the progress dots. Such a line is dropped from
    the portal's handler only (pytest's own log capture still has it); while a phase runs, and
    in the main thread always, every line is written as before.
    """
    import sys
    import threading

    from portal.logs import PortalLogHandler

    emit = PortalLogHandler.emit

    def emit_unless_uncaptured(self: PortalLogHandler, record: Any) -> None:
        if (
            sys.stderr is sys.__stderr__
            and threading.current_thread() is not threading.main_thread()
        ):
            return
        emit(self, record)

    PortalLogHandler.emit = emit_unless_uncaptured  # type: ignore[method-assign]


def unavailable(reason: str) -> NoReturn:
    """A tool some tests need is missing (chromium, axe-core, Redis...): the test fails, saying
    what is missing and how to get it. Never a skip: a test that did not run must not look
    like one that passed, and `make test` installs every tool the suite needs."""
    pytest.fail(f"{reason}; `make test` installs the test tools (see the README)", pytrace=False)


def with_pg_schema(url: str, schema_name: str) -> str:
    """Point a PostgreSQL URL's connections at `schema_name` through libpq's options."""
    return (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema_name}"})
        .render_as_string(hide_password=False)
    )


def drop_pg_schema(url: str, schema_name: str) -> None:
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE'))
    admin.dispose()


def fresh_pg_schema(url: str, schema_name: str) -> str:
    """(Re)create an empty schema and return a URL whose connections use it."""
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema_name}"'))
    admin.dispose()
    return with_pg_schema(url, schema_name)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("PORTAL_TEST_DATABASE_URL")
    if base and make_url(base).get_backend_name() == "postgresql":
        url = fresh_pg_schema(base, PG_SCHEMA)
    else:
        url = base or f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.sqlite3'}"
    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    yield url
    if base and make_url(base).get_backend_name() == "postgresql":
        drop_pg_schema(base, PG_SCHEMA)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def make_test_app(database_url: str, **overrides: Any) -> Flask:
    config = {
        "ENV": "testing",
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "BASE_URL": "http://localhost",
        "WTF_CSRF_ENABLED": True,
    }
    config.update(overrides)
    app = create_app(config)
    # Keep what tests write (the development mail outbox) out of the project's instance/.
    app.instance_path = _TEST_INSTANCE
    # The process-wide limiter as this app bound it, for `as_new` to bind it again.
    from portal.limits import limiter

    app.extensions[_LIMITER_STATE] = dict(vars(limiter))
    return app


@contextmanager
def as_new(app: Flask) -> Iterator[Flask]:
    """Hand a test a process-wide app as a new one would be, then put back what the test
    changed on it: config, extensions and the instance folder. The process-wide limiter is
    bound to this app's own limits (an app a test builds re-binds it), with no count left
    from earlier tests, and re-bound as it was afterwards.

    Building an app compiles every URL rule (0.1 s or more); over two thousand tests that is
    minutes, so each test process builds one per database and shares it this way. A test
    that needs other settings at creation calls make_test_app itself (or uses `fresh_app`)."""
    from portal.limits import limiter

    before = dict(vars(limiter))
    vars(limiter).clear()
    vars(limiter).update(app.extensions[_LIMITER_STATE])
    limiter.reset()
    config = dict(app.config)
    extensions = dict(app.extensions)
    instance_path = app.instance_path
    try:
        yield app
    finally:
        app.config.clear()
        app.config.update(config)
        app.extensions.clear()
        app.extensions.update(extensions)
        app.instance_path = instance_path
        vars(limiter).clear()
        vars(limiter).update(before)
        app.extensions["portal.engine"].dispose()


@pytest.fixture(scope="session")
def shared_app(database_url: str) -> Iterator[Flask]:
    """The test process's app on the per-run database (see `as_new`)."""
    app = make_test_app(database_url)
    yield app
    app.extensions["portal.engine"].dispose()


@pytest.fixture
def app(shared_app: Flask) -> Iterator[Flask]:
    """The process's app, in an app context, as new for this test (see `as_new`)."""
    with as_new(shared_app) as app, app.app_context():
        yield app


@pytest.fixture
def fresh_app(database_url: str) -> Iterator[Flask]:
    """An app of this test's own, in an app context, for a test that adds routes to it (Flask
    refuses new routes on an app that has served a request, as the shared one has)."""
    app = make_test_app(database_url)
    with app.app_context():
        yield app
    app.extensions["portal.engine"].dispose()


@pytest.fixture
def smtp(app: Flask, caplog: pytest.LogCaptureFixture) -> Iterator[Inbox]:
    """A real SMTP server on loopback that keeps every message the app sends (tests/mailbox.py)."""
    yield from inbox_fixture(app, caplog, Inbox())


@pytest.fixture
def refusing_smtp(app: Flask, caplog: pytest.LogCaptureFixture) -> Iterator[Inbox]:
    """A real SMTP server on loopback that refuses every recipient."""
    refuse = "550 5.1.1 <nobody@example.com>: mailbox unavailable"
    yield from inbox_fixture(app, caplog, Inbox(refuse=refuse))


@pytest.fixture
def deliver_email(app: Flask) -> Callable[[], int]:
    """Send the outbox's due email now, as the worker would (the same service function).

    Test apps also deliver right after each commit (MAIL_DELIVER_AFTER_COMMIT is on outside
    production); this is for what that did not send: retries, and apps with it off.
    """
    from portal import mail

    return lambda: mail.deliver_due("tests")


@pytest.fixture
def session(app: Flask, engine: Engine) -> Iterator[Session]:
    """The app's session for this test, bound to a transaction that is rolled back after it.

    Services may commit: with `create_savepoint` a commit only releases a savepoint.
    """
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        db.use_session(session)
        try:
            yield session
        finally:
            db.use_session(None)
            session.close()
            outer.rollback()


@pytest.fixture
def client(app: Flask, session: Session) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def firm(session: Session) -> factories.FirmWithKey:
    return factories.firm_with_key("Okafor & Lindqvist LLP")


@pytest.fixture
def other_firm(session: Session) -> factories.FirmWithKey:
    return factories.firm_with_key("Brandt Legal Group")


class APIClient:
    """The test client with a firm's bearer key on every request."""

    def __init__(self, client: FlaskClient, key: str) -> None:
        self.client = client
        self.key = key

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **(extra or {})}

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.put(
            path, json=json, headers=self._headers(kw.pop("headers", None)), **kw
        )

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(
            path, json=json, headers=self._headers(kw.pop("headers", None)), **kw
        )


@pytest.fixture
def api(client: FlaskClient, firm: factories.FirmWithKey) -> APIClient:
    return APIClient(client, firm.key)


@pytest.fixture
def other_api(client: FlaskClient, other_firm: factories.FirmWithKey) -> APIClient:
    return APIClient(client, other_firm.key)


# Flows that need committed data (real threads, subprocesses, live servers) cannot use the
# rolled-back session above: a second connection would not see its rows. They get their own
# migrated database, SQLite in a temp folder or a per-run PostgreSQL schema, emptied per test.


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


def empty_all_tables(connection: Any) -> None:
    """Delete every row, children first. The audit log refuses deletes while its firm exists,
    so it goes after the firms (whose deletion cascades to it)."""
    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name != "audit_events"]
    for table in tables:
        connection.execute(table.delete())
    connection.execute(Base.metadata.tables["audit_events"].delete())


@pytest.fixture(scope="session")
def shared_committed_app(committed_url: str) -> Iterator[Flask]:
    """The test process's app on the committed database (see `as_new`)."""
    app = make_test_app(committed_url)
    yield app
    app.extensions["portal.engine"].dispose()


@pytest.fixture
def committed_app(committed_url: str, shared_committed_app: Flask) -> Iterator[Flask]:
    """An app on the committed database, emptied before the test, as new (see `as_new`)."""
    engine = make_engine(committed_url)
    with engine.begin() as connection:
        empty_all_tables(connection)
    engine.dispose()
    with as_new(shared_committed_app) as app:
        yield app
