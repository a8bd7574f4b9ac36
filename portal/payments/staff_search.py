"""Make a payment, step 2: the firm's open invoices and matters that fit a staff user's search.

Read only, always within one firm: by client (name or external id), matter (number or title),
invoice number, an amount range (on what is payable now), a due-date range and overdue only.
An invoice row is payable now (open, something left once in-flight charges are held); a matter
row is any matter of a client that fits, with its trust balance and minimum, for a deposit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select

from portal.billing.models import Client, Invoice, InvoiceStatus, Matter
from portal.db import db
from portal.ledger.services import trust_balances

#: The most rows one search shows of each kind.
LIMIT = 200


@dataclass(frozen=True)
class Criteria:
    """What to search for; empty fields do not narrow. Amounts are minor units."""

    client: str = ""
    matter: str = ""
    invoice: str = ""
    amount_from: int | None = None
    amount_to: int | None = None
    due_from: dt.date | None = None
    due_to: dt.date | None = None
    overdue_only: bool = False

    @property
    def names_invoices_only(self) -> bool:
        """Criteria only an invoice can meet (a matter row has no number, amount or due date)."""
        return bool(
            self.invoice
            or self.amount_from is not None
            or self.amount_to is not None
            or self.due_from
            or self.due_to
            or self.overdue_only
        )


@dataclass(frozen=True)
class InvoiceRow:
    id: int
    number: str
    client_id: int
    client_name: str
    matter_id: int
    matter_number: str
    matter_title: str
    issued_on: dt.date
    due_on: dt.date | None
    currency: str
    payable_minor: int
    is_overdue: bool


@dataclass(frozen=True)
class MatterRow:
    id: int
    number: str
    title: str
    client_id: int
    client_name: str
    currency: str
    trust_balance_minor: int
    trust_minimum_minor: int | None

    @property
    def shortfall_minor(self) -> int:
        minimum = self.trust_minimum_minor or 0
        return max(0, minimum - self.trust_balance_minor)


@dataclass(frozen=True)
class Found:
    invoices: tuple[InvoiceRow, ...]
    matters: tuple[MatterRow, ...]


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _client_and_matter(criteria: Criteria) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if criteria.client:
        where.append(
            or_(
                Client.name.ilike(_like(criteria.client), escape="\\"),
                Client.external_id == criteria.client,
            )
        )
    if criteria.matter:
        where.append(
            or_(
                Matter.number.ilike(_like(criteria.matter), escape="\\"),
                Matter.title.ilike(_like(criteria.matter), escape="\\"),
            )
        )
    return where


def search(firm_id: int, criteria: Criteria, today: dt.date) -> Found:
    """The firm's open invoices and matters that fit `criteria` (`today` is the firm's day)."""
    payable = Invoice.balance_due_minor - Invoice.reserved_minor
    where = [
        Invoice.firm_id == firm_id,
        Invoice.status == InvoiceStatus.OPEN,
        payable > 0,
        *_client_and_matter(criteria),
    ]
    if criteria.invoice:
        where.append(Invoice.number.ilike(_like(criteria.invoice), escape="\\"))
    if criteria.amount_from is not None:
        where.append(payable >= criteria.amount_from)
    if criteria.amount_to is not None:
        where.append(payable <= criteria.amount_to)
    if criteria.due_from is not None:
        where.append(Invoice.due_on >= criteria.due_from)
    if criteria.due_to is not None:
        where.append(Invoice.due_on <= criteria.due_to)
    if criteria.overdue_only:
        where.append(Invoice.due_on < today)
    rows = db.session.execute(
        select(Invoice, Matter, Client, payable)
        .join(Matter, Matter.id == Invoice.matter_id)
        .join(Client, Client.id == Matter.client_id)
        .where(*where)
        .order_by(Client.name, Matter.number, Invoice.due_on, Invoice.number)
        .limit(LIMIT)
    ).all()
    invoices = tuple(
        _invoice_row(invoice, matter, client, left, today) for invoice, matter, client, left in rows
    )
    matters: tuple[MatterRow, ...] = ()
    if not criteria.names_invoices_only and (criteria.client or criteria.matter):
        found = db.session.execute(
            select(Matter, Client)
            .join(Client, Client.id == Matter.client_id)
            .where(Matter.firm_id == firm_id, *_client_and_matter(criteria))
            .order_by(Client.name, Matter.number)
            .limit(LIMIT)
        ).all()
        matters = matter_rows([(matter, client) for matter, client in found])
    return Found(invoices=invoices, matters=matters)


def _invoice_row(
    invoice: Invoice, matter: Matter, client: Client, payable_minor: int, today: dt.date
) -> InvoiceRow:
    return InvoiceRow(
        id=invoice.id,
        number=invoice.number,
        client_id=client.id,
        client_name=client.name,
        matter_id=matter.id,
        matter_number=matter.number,
        matter_title=matter.title,
        issued_on=invoice.issued_on,
        due_on=invoice.due_on,
        currency=invoice.currency,
        payable_minor=payable_minor,
        is_overdue=invoice.due_on is not None and invoice.due_on < today,
    )


def matter_rows(found: Sequence[tuple[Matter, Client]]) -> tuple[MatterRow, ...]:
    balances = trust_balances(matter.id for matter, _client in found)
    return tuple(
        MatterRow(
            id=matter.id,
            number=matter.number,
            title=matter.title,
            client_id=client.id,
            client_name=client.name,
            currency=matter.currency,
            trust_balance_minor=balances.get(matter.id, 0),
            trust_minimum_minor=matter.trust_minimum_minor,
        )
        for matter, client in found
    )


def invoices_by_id(firm_id: int, ids: Iterable[int], today: dt.date) -> dict[int, InvoiceRow]:
    """The firm's invoices among `ids` that are payable now (others are left out)."""
    payable = Invoice.balance_due_minor - Invoice.reserved_minor
    rows = db.session.execute(
        select(Invoice, Matter, Client, payable)
        .join(Matter, Matter.id == Invoice.matter_id)
        .join(Client, Client.id == Matter.client_id)
        .where(
            Invoice.firm_id == firm_id,
            Invoice.id.in_(list(ids)),
            Invoice.status == InvoiceStatus.OPEN,
            payable > 0,
        )
    ).all()
    return {
        invoice.id: _invoice_row(invoice, matter, client, left, today)
        for invoice, matter, client, left in rows
    }


def matters_by_id(firm_id: int, ids: Iterable[int]) -> dict[int, MatterRow]:
    """The firm's matters among `ids` (others are left out)."""
    found = db.session.execute(
        select(Matter, Client)
        .join(Client, Client.id == Matter.client_id)
        .where(Matter.firm_id == firm_id, Matter.id.in_(list(ids)))
    ).all()
    return {row.id: row for row in matter_rows([(m, c) for m, c in found])}
