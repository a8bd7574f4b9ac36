"""Benchmark databases: the migrated schema, one firm, then matters of one fixed shape in bulk.

Rows go in through SQLAlchemy Core `executemany` in large batches inside one transaction,
with explicit ids so nothing has to be read back. Every matter has the same shape (100
invoices, half open and half paid, and 20 trust entries), so a matter page costs the same
work in a small database and in a large one: only the table sizes differ.

A seeded SQLite file is kept and reused while its schema is at the newest migration and its
row counts are right; it is built under a temporary name and renamed when complete, so an
interrupted seed never leaves a half-filled database behind.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.engine import Connection, Engine

from portal import clock, schema
from portal.billing.models import Client, Invoice, InvoiceStatus, Matter
from portal.db import make_engine
from portal.firms.models import Firm
from portal.ledger.models import TrustEntry

#: Bump when the data below changes shape, so old seed files are not reused.
SEED_VERSION = 1
BATCH = 20_000
FIRM_NAME = "Benchmark & Partners LLP"
CURRENCY = "USD"


@dataclass(frozen=True)
class Shape:
    """How many matters, and how each matter looks. Every matter looks the same."""

    name: str
    matters: int
    invoices_per_matter: int = 100
    open_per_matter: int = 50
    trust_entries_per_matter: int = 20
    matters_per_client: int = 10

    @property
    def clients(self) -> int:
        return -(-self.matters // self.matters_per_client)

    @property
    def invoices(self) -> int:
        return self.matters * self.invoices_per_matter

    @property
    def trust_entries(self) -> int:
        return self.matters * self.trust_entries_per_matter

    def expected_counts(self) -> dict[str, int]:
        return {
            "firms": 1,
            "clients": self.clients,
            "matters": self.matters,
            "invoices": self.invoices,
            "trust_entries": self.trust_entries,
        }


SMALL = Shape("small", matters=10)
LARGE = Shape("large", matters=10_000)


@dataclass(frozen=True)
class SeededDatabase:
    """A ready database and how long seeding it took (`reused`: in an earlier run)."""

    shape: Shape
    url: str
    path: Path
    seconds: float | None
    reused: bool


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def seeded_sqlite(shape: Shape, folder: Path, *, secret_key: str) -> SeededDatabase:
    """Return the SQLite database for `shape` under `folder`, seeding it first if needed."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"pages-{shape.name}-v{SEED_VERSION}.sqlite3"
    timing = path.with_name(path.name + ".seconds")
    if path.exists() and is_complete(sqlite_url(path), shape):
        return SeededDatabase(shape, sqlite_url(path), path, _read_seconds(timing), reused=True)
    building = path.with_name(path.name + ".building")
    for stale in (building, *_sidecars(building), path, *_sidecars(path), timing):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    seed(sqlite_url(building), shape, secret_key=secret_key)
    seconds = time.perf_counter() - started
    building.rename(path)
    timing.write_text(f"{seconds:.3f}\n")
    return SeededDatabase(shape, sqlite_url(path), path, seconds, reused=False)


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _read_seconds(timing: Path) -> float | None:
    try:
        return float(timing.read_text())
    except (OSError, ValueError):
        return None


def is_complete(url: str, shape: Shape) -> bool:
    """Whether the database is at the newest migration and holds exactly `shape`'s rows."""
    engine = make_engine(url)
    try:
        return schema.is_at_head(engine) and row_counts(engine) == shape.expected_counts()
    except Exception:  # An unreadable file is not a usable seed.
        return False
    finally:
        engine.dispose()


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per seeded table."""
    tables: dict[str, Any] = {
        "firms": Firm,
        "clients": Client,
        "matters": Matter,
        "invoices": Invoice,
        "trust_entries": TrustEntry,
    }
    with engine.connect() as connection:
        return {
            name: int(connection.execute(select(func.count()).select_from(model)).scalar_one())
            for name, model in tables.items()
        }


def seed(url: str, shape: Shape, *, secret_key: str) -> int:
    """Migrate an empty database, create the firm, bulk-insert `shape`; return the firm id."""
    engine = make_engine(url)
    try:
        schema.upgrade(engine)
        firm_id = create_firm(url, secret_key=secret_key)
        with engine.begin() as connection:
            if engine.dialect.name == "sqlite":
                # A bigger page cache keeps the unique indexes' b-trees in memory while filling.
                connection.exec_driver_sql("PRAGMA cache_size=-262144")
            bulk_insert(connection, firm_id, shape)
    finally:
        # Closing SQLite's last connection checkpoints the WAL into the file and removes it.
        engine.dispose()
    return firm_id


def create_firm(url: str, *, secret_key: str) -> int:
    """Create the benchmark firm through the real service, in an app context (commits)."""
    from portal import create_app
    from portal.db import db
    from portal.firms import services as firms

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": secret_key, "ENV": "production"})
    try:
        with app.app_context():
            firm = firms.create_firm(FIRM_NAME, currency=CURRENCY)
            db.session.commit()
            return firm.id
    finally:
        app.extensions["portal.engine"].dispose()


def bulk_insert(connection: Connection, firm_id: int, shape: Shape) -> None:
    """Insert every client, matter, invoice and trust entry of `shape` in batches."""
    now = clock.now()
    today = now.date()
    _insert(connection, Client.__table__, _clients(firm_id, shape, now))
    _insert(connection, Matter.__table__, _matters(firm_id, shape, now))
    _insert(connection, Invoice.__table__, _invoices(firm_id, shape, now, today))
    _insert(connection, TrustEntry.__table__, _trust_entries(firm_id, shape, now, today))


def _insert(connection: Connection, table: Any, rows: Iterator[dict[str, Any]]) -> None:
    target: Table = table
    statement = insert(target)
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            connection.execute(statement, batch)
            batch = []
    if batch:
        connection.execute(statement, batch)


def _clients(firm_id: int, shape: Shape, now: dt.datetime) -> Iterator[dict[str, Any]]:
    for c in range(1, shape.clients + 1):
        yield {
            "id": c,
            "firm_id": firm_id,
            "external_id": f"C-{c:06d}",
            "name": f"Client {c:06d}",
            "email": f"client{c}@example.com",
            "locale": "en_US",
            "created_at": now,
            "updated_at": now,
        }


def client_of(matter_id: int, shape: Shape) -> int:
    """The client id that owns matter `matter_id` (matters are numbered from 1)."""
    return (matter_id - 1) // shape.matters_per_client + 1


def _matters(firm_id: int, shape: Shape, now: dt.datetime) -> Iterator[dict[str, Any]]:
    for m in range(1, shape.matters + 1):
        yield {
            "id": m,
            "firm_id": firm_id,
            "external_id": f"M-{m:06d}",
            "client_id": client_of(m, shape),
            "number": f"2026-{m:06d}",
            "title": f"Client {client_of(m, shape):06d}: engagement {m}",
            "trust_minimum_minor": 500_000,
            "currency": CURRENCY,
            "created_at": now,
            "updated_at": now,
        }


def _invoices(
    firm_id: int, shape: Shape, now: dt.datetime, today: dt.date
) -> Iterator[dict[str, Any]]:
    day = dt.timedelta(days=1)
    per = shape.invoices_per_matter
    for m in range(1, shape.matters + 1):
        for k in range(per):
            is_open = k >= per - shape.open_per_matter  # The newest ones are still open.
            issued = today - (per - k) * 7 * day
            total = 25_000 + (k * 7_919 + m * 131) % 500_000
            yield {
                "id": (m - 1) * per + k + 1,
                "firm_id": firm_id,
                "external_id": f"INV-{m:06d}-{k:03d}",
                "matter_id": m,
                "number": f"{m:06d}-{k:03d}",
                "issued_on": issued,
                "due_on": issued + 30 * day,
                "currency": CURRENCY,
                "total_minor": total,
                "balance_due_minor": (total if k % 5 else total // 2) if is_open else 0,
                "description": "Professional services rendered",
                "status": InvoiceStatus.OPEN if is_open else InvoiceStatus.PAID,
                "paid_at": None if is_open else now - (per - k) * 5 * day,
                "created_at": now,
                "updated_at": now,
            }


def _trust_entries(
    firm_id: int, shape: Shape, now: dt.datetime, today: dt.date
) -> Iterator[dict[str, Any]]:
    day = dt.timedelta(days=1)
    per = shape.trust_entries_per_matter
    for m in range(1, shape.matters + 1):
        for k in range(per):
            # Deposits and smaller disbursements alternate, so the balance stays positive.
            amount = 400_000 if k % 2 == 0 else -150_000 - (k * 1_013) % 50_000
            yield {
                "id": (m - 1) * per + k + 1,
                "firm_id": firm_id,
                "external_id": f"T-{m:06d}-{k:02d}",
                "matter_id": m,
                "posted_on": today - (per - k) * 10 * day,
                "amount_minor": amount,
                "currency": CURRENCY,
                "description": "Retainer deposit" if amount > 0 else "Transfer to operating",
                "created_at": now,
            }
