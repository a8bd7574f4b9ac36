"""Alembic environment: migrate the connection the app hands over, or PORTAL_DATABASE_URL's."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from portal.config import Defaults
from portal.db import make_engine
from portal.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table, which works because
        # every constraint has a name (see portal.db.NAMING_CONVENTION).
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(os.environ.get("PORTAL_DATABASE_URL", Defaults.DATABASE_URL))
    with engine.connect() as connection:
        _run(connection)
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run against a database.")
run_migrations_online()
