"""Alembic from Python: the schema is only ever created by the migrations in `migrations/`."""

from __future__ import annotations

import enum

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from portal.db import PROJECT_ROOT, READ_ONLY


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for `migrations/`, optionally bound to an open connection."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind `engine` up to `revision`."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate the database behind `engine` down to `revision`."""
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def _current_revision(engine: Engine) -> str | None:
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_at_head(engine: Engine) -> bool:
    """Whether the database's revision is the newest migration."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return _current_revision(engine) == head


class SchemaState(enum.StrEnum):
    AT_HEAD = "at head"
    #: A migration of this code has not run yet: this code cannot serve.
    PENDING = "migrations pending"
    #: A revision this code does not know: newer code has migrated (a rolling upgrade).
    NEWER = "newer than this code"


def state(engine: Engine) -> SchemaState:
    """Where the database's schema stands against this code's migrations."""
    scripts = ScriptDirectory.from_config(alembic_config())
    current = _current_revision(engine)
    if current == scripts.get_current_head():
        return SchemaState.AT_HEAD
    known = current is None or any(r.revision == current for r in scripts.walk_revisions())
    return SchemaState.PENDING if known else SchemaState.NEWER
