"""Clients, matters and invoices read back by the firm: firm-scoped lookups by external id,
pages of them in id order, and the references other features' requests make to them.

Only billing's own tables are read and written here. Deciding what the back office's records
change (the sync) is a use case over several features, `portal.backoffice`, which writes
clients, matters and invoices through `insert_records` and `update_record`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import joinedload

from portal.billing.models import Client, Invoice, InvoiceStatus, Matter
from portal.db import chunked, db, insert_by_external_id
from portal.errors import NotFound, ValidationFailed

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list in id order; `last_id` is where the next page starts after."""

    items: list[T]
    last_id: int | None


#: The tables a back-office record of each kind is written to.
RECORD_MODELS: dict[str, type[Client] | type[Matter] | type[Invoice]] = {
    "clients": Client,
    "matters": Matter,
    "invoices": Invoice,
}


# Writing: the back-office sync (portal.backoffice) decides what changes; billing writes it.


def insert_records(kind: str, firm_id: int, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert a firm's new clients, matters or invoices (`kind`); return ids by external id."""
    return insert_by_external_id(RECORD_MODELS[kind], firm_id, rows)


def update_record(
    row: Client | Matter | Invoice, values: Mapping[str, Any], now: dt.datetime
) -> bool:
    """Write the values that differ onto `row`, touching `updated_at` only if one did; say
    whether anything changed."""
    changed = {name: value for name, value in values.items() if getattr(row, name) != value}
    for name, value in changed.items():
        setattr(row, name, value)
    if changed:
        row.updated_at = now
    return bool(changed)


# Reading back: every lookup is scoped to the firm; someone else's record is "not found".


def client_by_external_id(firm_id: int, external_id: str) -> Client:
    """The firm's client with this external id."""
    return _one(select(Client).where(Client.firm_id == firm_id, Client.external_id == external_id))


def client_by_id(firm_id: int, client_id: int) -> Client:
    """The firm's client with this id (NotFound for another firm's)."""
    return _one(select(Client).where(Client.firm_id == firm_id, Client.id == client_id))


def clients_by_id(firm_id: int, client_ids: Collection[int]) -> dict[int, Client]:
    """The firm's clients among these ids, by id (another firm's is simply left out)."""
    if not client_ids:
        return {}
    found = db.session.scalars(
        select(Client).where(Client.firm_id == firm_id, Client.id.in_(set(client_ids)))
    )
    return {client.id: client for client in found}


def matter_by_external_id(firm_id: int, external_id: str) -> Matter:
    """The firm's matter with this external id (its client loaded too)."""
    return _one(
        select(Matter)
        .options(joinedload(Matter.client))
        .where(Matter.firm_id == firm_id, Matter.external_id == external_id)
    )


def invoice_by_external_id(firm_id: int, external_id: str) -> Invoice:
    """The firm's invoice with this external id (its matter loaded too)."""
    return _one(
        select(Invoice)
        .options(joinedload(Invoice.matter))
        .where(Invoice.firm_id == firm_id, Invoice.external_id == external_id)
    )


def _one(statement: Select[Any]) -> Any:
    row = db.session.scalar(statement)
    if row is None:
        raise NotFound("No record has this external_id.")
    return row


def clients_page(*, firm_id: int, after_id: int | None, limit: int) -> Page[Client]:
    """A page of the firm's clients in id order, starting after `after_id`."""
    statement = select(Client).where(Client.firm_id == firm_id)
    rows, last_id = keyset_page(statement, Client.id, after_id, limit)
    return Page([row[0] for row in rows], last_id)


def matters_page(*, firm_id: int, after_id: int | None, limit: int) -> Page[Matter]:
    """A page of the firm's matters in id order (clients loaded), starting after `after_id`."""
    statement = select(Matter).options(joinedload(Matter.client)).where(Matter.firm_id == firm_id)
    rows, last_id = keyset_page(statement, Matter.id, after_id, limit)
    return Page([row[0] for row in rows], last_id)


@dataclass(frozen=True)
class InvoiceFilters:
    """What an invoice list is narrowed to; None means no condition."""

    status: InvoiceStatus | None = None
    #: External ids, within the firm (another firm's matches nothing).
    client: str | None = None
    matter: str | None = None
    #: The invoice number, exactly.
    number: str | None = None
    #: Due strictly before / strictly after these dates (invoices with no due date never match).
    due_before: dt.date | None = None
    due_after: dt.date | None = None


def invoices_page(
    *,
    firm_id: int,
    after_id: int | None,
    limit: int,
    filters: InvoiceFilters | None = None,
) -> Page[Invoice]:
    """A page of the firm's invoices matching `filters` in id order (matters loaded), starting
    after `after_id`."""
    statement = (
        select(Invoice)
        .options(joinedload(Invoice.matter))
        .where(Invoice.firm_id == firm_id, *_invoice_conditions(firm_id, filters))
    )
    rows, last_id = keyset_page(statement, Invoice.id, after_id, limit)
    return Page([row[0] for row in rows], last_id)


def _invoice_conditions(firm_id: int, filters: InvoiceFilters | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters is None:
        return conditions
    if filters.status is not None:
        conditions.append(Invoice.status == filters.status)
    if filters.number is not None:
        conditions.append(Invoice.number == filters.number)
    if filters.due_before is not None:
        conditions.append(Invoice.due_on < filters.due_before)
    if filters.due_after is not None:
        conditions.append(Invoice.due_on > filters.due_after)
    if filters.matter is not None:
        conditions.append(Invoice.matter_id == matter_id_of(firm_id, filters.matter))
    if filters.client is not None:
        client_matters = select(Matter.id).where(
            Matter.firm_id == firm_id, Matter.client_id == client_id_of(firm_id, filters.client)
        )
        conditions.append(Invoice.matter_id.in_(client_matters))
    return conditions


def client_id_of(firm_id: int, external_id: str) -> Any:
    """SQL for the id of the firm's client with this external id (NULL when there is none)."""
    return (
        select(Client.id)
        .where(Client.firm_id == firm_id, Client.external_id == external_id)
        .scalar_subquery()
    )


def matter_id_of(firm_id: int, external_id: str) -> Any:
    """SQL for the id of the firm's matter with this external id (NULL when there is none)."""
    return (
        select(Matter.id)
        .where(Matter.firm_id == firm_id, Matter.external_id == external_id)
        .scalar_subquery()
    )


def keyset_page(
    statement: Select[*tuple[Any, ...]], id_column: Any, after_id: int | None, limit: int
) -> tuple[list[Any], int | None]:
    """Keyset pagination: rows after `after_id` by id, plus the id to continue after (or None).

    One extra row is fetched to learn whether another page exists without counting.
    """
    if after_id is not None:
        statement = statement.where(id_column > after_id)
    rows = list(db.session.execute(statement.order_by(id_column).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, rows[-1][0].id


# References from other features (links): unknown ids are a problem with the field that sent them.


def referenced_client(*, firm_id: int, external_id: str, pointer: str) -> Client:
    """The firm's client named by a request field, or ValidationFailed pointing at that field."""
    client = db.session.scalar(
        select(Client).where(Client.firm_id == firm_id, Client.external_id == external_id)
    )
    if client is None:
        raise ValidationFailed(
            errors=[{"pointer": pointer, "detail": f"client {external_id!r} does not exist"}]
        )
    return client


def referenced_matters(
    *, client: Client, external_ids: Sequence[str], pointer: str
) -> list[Matter]:
    """The client's matters named by a request list, in order; any other id is refused by index.

    An unknown id and another client's (or firm's) matter get the same answer.
    """
    found = {
        matter.external_id: matter
        for chunk in chunked(set(external_ids))
        for matter in db.session.scalars(
            select(Matter).where(
                Matter.firm_id == client.firm_id,
                Matter.client_id == client.id,
                Matter.external_id.in_(chunk),
            )
        )
    }
    errors = [
        {
            "pointer": f"{pointer}/{i}",
            "detail": f"matters[{i}] {external_id!r} is not a matter of client "
            f"{client.external_id!r}",
        }
        for i, external_id in enumerate(external_ids)
        if external_id not in found
    ]
    if errors:
        raise ValidationFailed(errors=errors)
    unique = dict.fromkeys(external_ids)
    return [found[external_id] for external_id in unique]


@dataclass(frozen=True)
class OpenBalance:
    """What is owed on some matters in one currency, and the earliest due date among it."""

    currency: str
    balance_minor: int
    earliest_due_on: dt.date | None


def open_balances(firm_id: int, matter_ids: Sequence[int]) -> list[OpenBalance]:
    """The open invoices' balances due on `matter_ids`, per currency (alphabetical)."""
    if not matter_ids:
        return []
    rows = db.session.execute(
        select(Invoice.currency, func.sum(Invoice.balance_due_minor), func.min(Invoice.due_on))
        .where(
            Invoice.firm_id == firm_id,
            Invoice.matter_id.in_(list(matter_ids)),
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.balance_due_minor > 0,
        )
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    ).all()
    return [OpenBalance(currency, int(total), due) for currency, total, due in rows]
