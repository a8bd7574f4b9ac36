"""The schema comes only from Alembic: the models and the migrations must agree, both ways."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine, make_url

from portal import schema
from portal.db import make_engine
from portal.models import Base
from tests.conftest import RUN, drop_pg_schema, fresh_pg_schema


@pytest.fixture
def scratch_engine(tmp_path: os.PathLike[str]) -> Iterator[Engine]:
    """An empty database of the same kind as the suite's, just for this test."""
    base = os.environ.get("PORTAL_TEST_DATABASE_URL")
    is_pg = bool(base) and make_url(base or "").get_backend_name() == "postgresql"
    if is_pg:
        url = fresh_pg_schema(base or "", f"matterpay_migrations_{RUN}")
    else:
        url = f"sqlite:///{tmp_path}/migrations.sqlite3"
    engine = make_engine(url)
    yield engine
    engine.dispose()
    if is_pg:
        drop_pg_schema(base or "", f"matterpay_migrations_{RUN}")


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_models_and_migrations_agree(scratch_engine: Engine) -> None:
    schema.upgrade(scratch_engine)
    assert _diff(scratch_engine) == []
    assert schema.is_at_head(scratch_engine)


def test_upgrade_downgrade_upgrade(scratch_engine: Engine) -> None:
    schema.upgrade(scratch_engine)
    schema.downgrade(scratch_engine, "base")
    leftover = set(inspect(scratch_engine).get_table_names()) - {"alembic_version"}
    assert leftover == set()
    assert not schema.is_at_head(scratch_engine)
    schema.upgrade(scratch_engine)
    assert _diff(scratch_engine) == []
    assert set(Base.metadata.tables) <= set(inspect(scratch_engine).get_table_names())
