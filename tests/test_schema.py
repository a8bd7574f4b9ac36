"""The schema comes only from Alembic: the models and the migrations must agree, both ways."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text
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


def _required_values(engine: Engine, table: str, **given: object) -> dict[str, object]:
    """`given`, plus a plain value for every other NOT NULL column without a default."""
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    filler = {"INTEGER": 1, "BIGINT": 1, "BOOLEAN": False, "DATETIME": when, "TIMESTAMP": when}
    values = dict(given)
    for column in inspect(engine).get_columns(table):
        name = column["name"]
        if name in values or column["nullable"] or column.get("default") is not None:
            continue
        if column.get("autoincrement") is True or name == "id":
            continue
        kind = str(column["type"]).split("(")[0].split(" ")[0].upper()
        values[name] = filler.get(kind, "x")
    return values


def test_staff_receipt_addresses_move_out_of_payer_email(scratch_engine: Engine) -> None:
    """Revision 5667a764bd9b: a staff payment's comma-joined receipts become its receipt_emails
    (payer_email NULL); other payments keep their payer's address; and back again."""
    schema.upgrade(scratch_engine, "38abd69f907e")
    tables = MetaData()
    tables.reflect(scratch_engine, only=["firms", "payments"])
    firms, payments = tables.tables["firms"], tables.tables["payments"]
    firm_row = _required_values(scratch_engine, "firms", slug="f", name="F")
    payment_rows = [
        _required_values(
            scratch_engine,
            "payments",
            public_id=public_id,
            number=public_id,
            idempotency_key=public_id,
            source=source,
            method="card",
            currency="USD",
            payer_email=email,
        )
        for public_id, source, email in (
            ("staff-two", "staff", "ada@example.com, office@example.org"),
            ("staff-none", "staff", None),
            ("link-one", "link", "payer@example.com"),
        )
    ]
    with scratch_engine.begin() as connection:
        firm_id = connection.execute(firms.insert().values(firm_row)).inserted_primary_key[0]
        for row in payment_rows:
            connection.execute(payments.insert().values({**row, "firm_id": firm_id}))
    schema.upgrade(scratch_engine)

    def rows() -> dict[str, tuple[object, object]]:
        with scratch_engine.connect() as connection:
            found = connection.execute(
                text("SELECT public_id, payer_email, receipt_emails FROM payments")
            ).all()
        return {
            public_id: (email, json.loads(kept) if isinstance(kept, str) else kept)
            for public_id, email, kept in found
        }

    assert rows() == {
        "staff-two": (None, ["ada@example.com", "office@example.org"]),
        "staff-none": (None, []),
        "link-one": ("payer@example.com", None),
    }
    schema.downgrade(scratch_engine, "38abd69f907e")
    with scratch_engine.connect() as connection:
        back = dict(connection.execute(text("SELECT public_id, payer_email FROM payments")).all())
    assert back == {
        "staff-two": "ada@example.com, office@example.org",
        "staff-none": None,
        "link-one": "payer@example.com",
    }
