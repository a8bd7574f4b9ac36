"""Database wiring: the declarative base, the UTC column type, the engine, the request session.

Every request (and every CLI command) gets one session from `db.session`; the app commits
nowhere but in services. Tests swap the session through `Database.use_session`, the one seam.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import DateTime, Enum, MetaData, String, create_engine, event, insert, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

PROJECT_ROOT = Path(__file__).resolve().parent.parent

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An instant stored as UTC and always handed back aware.

    SQLite keeps no time zone, PostgreSQL keeps `timestamptz`; either way Python sees aware UTC.
    A naive datetime is a bug and is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def str_enum(enum_cls: type[enum.Enum], name: str) -> Enum:
    """Store a str Enum by value as a short string with a CHECK constraint (portable)."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), str: String()}


def resolve_url(url: str) -> str:
    """Anchor a relative SQLite path at the project root and make sure its folder exists."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_absolute():
            path = PROJECT_ROOT / path
        path.parent.mkdir(parents=True, exist_ok=True)
        return parsed.set(database=str(path)).render_as_string(hide_password=False)
    return url


#: Execution option marking a connection that only reads, so SQLite need not lock for writing.
READ_ONLY = "portal_read_only"


def _wants_write_lock(connection: Any) -> bool:
    """Whether a new SQLite transaction should take the write lock at once.

    A deferred SQLite transaction that reads and later writes can fail with "database is
    locked" without waiting, because the lock upgrade cannot be queued. So anything that may
    write (API calls, form posts, CLI commands and workers) begins IMMEDIATE and queues on
    busy_timeout; page views (GET/HEAD) and connections marked READ_ONLY begin deferred and
    never block each other in WAL mode.
    """
    if connection.get_execution_options().get(READ_ONLY):
        return False
    if has_request_context():
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            return True
        view = current_app.view_functions.get(request.endpoint or "")
        return bool(getattr(view, WRITES, False))
    return True


#: Marks a GET view that writes (see `writes`).
WRITES = "portal_writes"

F = TypeVar("F", bound=Callable[..., Any])


def writes(view: F) -> F:
    """Mark a GET view that writes to the database, so SQLite locks for writing up front.

    Without it the view's transaction starts deferred, reads, and then cannot take the write
    lock if another request wrote in between: SQLite refuses at once, without waiting.
    """
    setattr(view, WRITES, True)
    return view


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL, a busy timeout and real transactions."""
    url = resolve_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # The pysqlite driver's own transaction handling defers BEGIN and breaks
            # SAVEPOINT; take control of it (SQLAlchemy's documented recipe).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            if make_url(url).database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            connection.exec_driver_sql(
                "BEGIN IMMEDIATE" if _wants_write_lock(connection) else "BEGIN"
            )

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


#: Most values in one `IN (...)`: well under every driver's parameter limit.
CHUNK = 500

C = TypeVar("C", int, str)


def chunked(values: Collection[C], size: int = CHUNK) -> Iterator[list[C]]:
    """Split `values` (sorted, so concurrent writers lock rows in one order) into lists short
    enough for one `IN (...)` each."""
    ordered = sorted(values)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def insert_by_external_id(
    model: Any, firm_id: int, rows: Sequence[dict[str, Any]]
) -> dict[str, int]:
    """Insert a firm's new rows of `model` at once; return their ids by external id.

    A Core executemany and one chunked SELECT of (external_id, id), rather than a unit-of-work
    flush of new objects or INSERT ... RETURNING of whole rows: on PostgreSQL this is several
    times faster for thousands of rows. Rows go in external-id order, so two requests racing on
    overlapping ids take the unique index's locks in the same order (the later one waits, then
    fails cleanly with IntegrityError inside the caller's savepoint, instead of deadlocking).
    Pending changes are flushed first; nothing is committed. Each feature calls this for its
    own tables only.
    """
    db.session.flush()
    if not rows:
        return {}
    db.session.execute(insert(model), sorted(rows, key=lambda values: values["external_id"]))
    ids: dict[str, int] = {}
    for chunk in chunked([values["external_id"] for values in rows]):
        found = db.session.execute(
            select(model.external_id, model.id).where(
                model.firm_id == firm_id, model.external_id.in_(chunk)
            )
        )
        ids.update((external_id, id_) for external_id, id_ in found if external_id is not None)
    return ids


class Database:
    """Holds the engine per app and hands out one session per app context."""

    def __init__(self) -> None:
        self._override: Session | None = None

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        app.extensions["portal.db"] = self
        app.extensions["portal.engine"] = engine
        app.extensions["portal.sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)
        app.teardown_appcontext(self._remove)

    def use_session(self, session: Session | None) -> None:
        """Make every `db.session` return `session` (tests bind it to a rolled-back connection)."""
        self._override = session

    @property
    def session(self) -> Session:
        if self._override is not None:
            return self._override
        session: Session | None = g.get("_portal_session")
        if session is None:
            from flask import current_app

            session = current_app.extensions["portal.sessionmaker"]()
            g._portal_session = session
        return session

    @property
    def engine(self) -> Engine:
        from flask import current_app

        engine: Engine = current_app.extensions["portal.engine"]
        return engine

    def _remove(self, _exc: BaseException | None) -> None:
        session: Session | None = g.pop("_portal_session", None)
        if session is not None:
            session.close()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Run a unit of work: commit on success, roll back on any exception."""
        session = self.session
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


db = Database()
