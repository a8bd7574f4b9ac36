"""One matter's page and its full trust history, as a link's client sees them.

Every function here runs a fixed, small number of queries however much data the firm holds,
selects only the columns a page shows, and returns frozen dataclasses that templates display as
they are.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, bindparam, cast, exists, func, select

from portal import clock
from portal.billing.models import InvoiceStatus
from portal.db import db
from portal.errors import NotFound
from portal.firms.services import firm_by_id, firm_zone
from portal.links.models import Link
from portal.money import Money
from portal.payments.models import IN_FLIGHT
from portal.statements.scope import (
    _MATTER,
    _TRUST_LINES,
    MAX_HISTORY_PAGE,
    OPEN_INVOICES_SHOWN,
    PAID_INVOICES_SHOWN,
    TRUST_ENTRIES_SHOWN,
    TRUST_HISTORY_PAGE,
    TrustLine,
    _allocations,
    _charges,
    _invoices,
    _scope_params,
    _trust_lines,
)
from portal.trust_requests.models import PAYABLE, TrustRequest


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One invoice as a matter page shows it; amounts in minor units of `currency`."""

    number: str
    description: str
    issued_on: dt.date
    due_on: dt.date | None
    currency: str
    total_minor: int
    balance_due_minor: int
    #: Due before today and still owed.
    is_overdue: bool
    #: When the invoice was paid in full (recently paid invoices only).
    paid_at: dt.datetime | None = None
    #: Part of the balance due held by portal payments still processing (e.g. a bank debit).
    processing_minor: int = 0

    @property
    def is_partly_paid(self) -> bool:
        """Some of it was paid already, so the total differs from what is left to pay."""
        return self.balance_due_minor < self.total_minor


@dataclass(frozen=True, slots=True)
class RequestLine:
    """An open trust request as a matter page shows it; amounts in minor units of `currency`."""

    id: int
    kind: str
    memo: str
    due_on: dt.date | None
    currency: str
    amount_minor: int
    paid_minor: int
    #: Part of the amount held by payments still processing (e.g. a bank debit).
    processing_minor: int
    is_overdue: bool

    @property
    def payable_minor(self) -> int:
        """What the client may still pay on it now."""
        return max(self.amount_minor - self.paid_minor - self.processing_minor, 0)


@dataclass(frozen=True, slots=True)
class Statement:
    """Everything one matter page shows."""

    matter_id: int
    number: str
    title: str
    #: Open invoices with something still owed, soonest due first (at most OPEN_INVOICES_SHOWN).
    open_invoices: tuple[InvoiceLine, ...]
    #: How many open invoices the matter has in all, listed or not.
    open_invoice_count: int
    #: The sum owed on all open invoices; None when they are in more than one currency.
    balance_due: Money | None
    #: Most recently paid first (at most PAID_INVOICES_SHOWN).
    paid_invoices: tuple[InvoiceLine, ...]
    trust_balance: Money
    trust_minimum: Money | None
    #: How far the trust balance is below the minimum; None when it is not below it.
    trust_shortfall: Money | None
    #: Newest first (at most TRUST_ENTRIES_SHOWN).
    trust_lines: tuple[TrustLine, ...]
    #: How many trust entries the matter has in all, listed or not.
    trust_entry_count: int
    #: Portal trust deposits still processing (bank debits in flight), not in `trust_balance`.
    pending_trust_minor: int = 0
    #: Open and partly paid trust requests, due soonest first.
    trust_requests: tuple[RequestLine, ...] = ()

    @property
    def open_invoices_not_shown(self) -> int:
        return self.open_invoice_count - len(self.open_invoices)

    @property
    def older_trust_entries(self) -> int:
        return self.trust_entry_count - len(self.trust_lines)


# Open invoices soonest due first, undated last. The index (matter_id, status, due_on) finds
# them; the count, total and currencies are windows over all of them, computed before LIMIT.
_OPEN_INVOICES = (
    select(
        _invoices.c.number,
        _invoices.c.description,
        _invoices.c.issued_on,
        _invoices.c.due_on,
        _invoices.c.currency,
        _invoices.c.total_minor,
        _invoices.c.balance_due_minor,
        func.count().over(),
        cast(func.sum(_invoices.c.balance_due_minor).over(), BigInteger),
        func.min(_invoices.c.currency).over(),
        func.max(_invoices.c.currency).over(),
        _invoices.c.reserved_minor,
    )
    .where(
        _invoices.c.matter_id == bindparam("matter_id"),
        _invoices.c.status == InvoiceStatus.OPEN,
        _invoices.c.balance_due_minor > 0,
    )
    .order_by(_invoices.c.due_on.asc().nulls_last(), _invoices.c.issued_on, _invoices.c.number)
    .limit(OPEN_INVOICES_SHOWN)
)

_PAID_INVOICES = (
    select(
        _invoices.c.number,
        _invoices.c.description,
        _invoices.c.issued_on,
        _invoices.c.due_on,
        _invoices.c.currency,
        _invoices.c.total_minor,
        _invoices.c.paid_at,
    )
    .where(
        _invoices.c.matter_id == bindparam("matter_id"),
        _invoices.c.status == InvoiceStatus.PAID,
    )
    .order_by(
        _invoices.c.paid_at.desc().nulls_last(), _invoices.c.issued_on.desc(), _invoices.c.id.desc()
    )
    .limit(PAID_INVOICES_SHOWN)
)

_requests = TrustRequest.__table__

# A matter's unpaid trust requests, each with what payments still in flight hold on it.
_OPEN_REQUESTS = (
    select(
        _requests.c.id,
        _requests.c.kind,
        _requests.c.memo,
        _requests.c.due_on,
        _requests.c.currency,
        _requests.c.amount_minor,
        _requests.c.paid_minor,
        select(cast(func.coalesce(func.sum(_allocations.c.amount_minor), 0), BigInteger))
        .select_from(_allocations.join(_charges, _charges.c.id == _allocations.c.charge_id))
        .where(
            _allocations.c.trust_request_id == _requests.c.id,
            _charges.c.status.in_(sorted(IN_FLIGHT)),
        )
        .scalar_subquery(),
    )
    .where(
        _requests.c.matter_id == bindparam("matter_id"),
        _requests.c.status.in_(sorted(PAYABLE)),
    )
    .order_by(_requests.c.due_on.asc().nulls_last(), _requests.c.id)
)


# The matter (scope enforced) and whether it has an unpaid trust request: most matters have
# none, and then the page needs no query for them.
_MATTER_AND_HAS_REQUESTS = _MATTER.add_columns(
    exists(
        select(_requests.c.id).where(
            _requests.c.matter_id == bindparam("matter_id"),
            _requests.c.status.in_(sorted(PAYABLE)),
        )
    )
)


@dataclass(frozen=True, slots=True)
class TrustHistory:
    """One page of a matter's whole trust ledger, newest first."""

    matter_id: int
    number: str
    title: str
    lines: tuple[TrustLine, ...]
    page: int
    page_count: int


def trust_history(link: Link, matter_id: int, page: int) -> TrustHistory:
    """A page of the matter's trust ledger with running balances, if `link` may see it."""
    matter = db.session.execute(_MATTER, {"matter_id": matter_id, **_scope_params(link)}).first()
    if matter is None:
        raise NotFound("matter")
    page = max(page, 1)
    if page > MAX_HISTORY_PAGE:  # beyond any ledger; also keeps the offset a 64-bit integer
        raise NotFound("page")
    rows = db.session.execute(
        _TRUST_LINES,
        {
            "matter_id": matter_id,
            "limit": TRUST_HISTORY_PAGE,
            "offset": (page - 1) * TRUST_HISTORY_PAGE,
        },
    ).all()
    total = rows[0][-1] if rows else 0
    if not rows and page > 1:
        raise NotFound("page")
    return TrustHistory(
        matter_id=matter_id,
        number=matter[0],
        title=matter[1],
        lines=_trust_lines(rows),
        page=page,
        page_count=max(1, -(-total // TRUST_HISTORY_PAGE)),
    )


def statement_for(link: Link, matter_id: int) -> Statement:
    """One matter's invoices and trust ledger, if `link` may see the matter; else NotFound.

    At most five queries on one connection, each walking an index on the matter: the matter
    itself (which also enforces the link's scope, and says whether it has unpaid trust
    requests), its open invoices, its recently paid invoices, its trust ledger, and its unpaid
    trust requests if it has any. Totals, counts and running balances come from window
    functions in the same queries, so the work per page does not grow with the rest of the
    firm's data.
    """
    # The session's connection, asked for once: each Session.execute looks it up again.
    connection = db.session.connection()
    found = connection.execute(
        _MATTER_AND_HAS_REQUESTS, {"matter_id": matter_id, **_scope_params(link)}
    ).first()
    if found is None:
        raise NotFound("matter")  # The same answer for "missing" and "someone else's".
    matter = tuple(found)
    params = {"matter_id": matter_id}

    def rows(query: Any, values: dict[str, int]) -> tuple[tuple[Any, ...], ...]:
        # Plain tuples: compared and hashed in C when the key below is looked up.
        return tuple(map(tuple, connection.execute(query, values).all()))

    open_rows = rows(_OPEN_INVOICES, params)
    paid_rows = rows(_PAID_INVOICES, params)
    trust_rows = rows(_TRUST_LINES, {**params, "limit": TRUST_ENTRIES_SHOWN, "offset": 0})
    request_rows = rows(_OPEN_REQUESTS, params) if matter[5] else ()
    # The firm's date: "overdue" flips at its midnight, not at UTC's.
    zone = firm_zone(firm_by_id(link.firm_id))
    today = clock.today_in(zone)
    # The statement is a function of these rows, the day and the zone alone (see _STATEMENTS).
    key = (matter_id, matter, open_rows, paid_rows, trust_rows, request_rows, today, zone)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _statement(*key)
        if len(_STATEMENTS) >= STATEMENTS_KEPT:
            _STATEMENTS.clear()
        _STATEMENTS[key] = statement
    return statement


#: Statements built lately, by the rows and day they were built from: a client reloading an
#: unchanged matter page gets the same (frozen) statement without building its lines again,
#: and the page rendered from it is found by identity (portal.templating.render_page).
#: Emptied when full, so a worker's memory stays capped.
STATEMENTS_KEPT = 256
_STATEMENTS: dict[tuple[Any, ...], Statement] = {}


def _statement(
    matter_id: int,
    matter: tuple[Any, ...],
    open_rows: tuple[tuple[Any, ...], ...],
    paid_rows: tuple[tuple[Any, ...], ...],
    trust_rows: tuple[tuple[Any, ...], ...],
    request_rows: tuple[tuple[Any, ...], ...],
    today: dt.date,
    zone: dt.tzinfo,
) -> Statement:
    number, title, currency, minimum_minor, pending_trust_minor, _has_requests = matter
    open_invoices = tuple(
        InvoiceLine(
            number=row[0],
            description=row[1],
            issued_on=row[2],
            due_on=row[3],
            currency=row[4],
            total_minor=row[5],
            balance_due_minor=row[6],
            is_overdue=row[3] is not None and row[3] < today,
            processing_minor=row[11],
        )
        for row in open_rows
    )
    balance_due: Money | None = Money(0, currency)
    if open_rows:
        _count, total, lowest_currency, highest_currency = open_rows[0][7:11]
        # Amounts in different currencies cannot be added up.
        balance_due = Money(total, lowest_currency) if lowest_currency == highest_currency else None

    paid_invoices = tuple(
        InvoiceLine(
            number=number,
            description=description,
            issued_on=issued_on,
            due_on=due_on,
            currency=line_currency,
            total_minor=total_minor,
            balance_due_minor=0,
            is_overdue=False,
            # In the firm's time: the page shows the day it was paid there.
            paid_at=None if paid_at is None else clock.local(paid_at, zone),
        )
        for number, description, issued_on, due_on, line_currency, total_minor, paid_at in (
            paid_rows
        )
    )

    trust_lines = _trust_lines(trust_rows)
    balance = Money(trust_lines[0].balance_after_minor if trust_lines else 0, currency)
    minimum = None if minimum_minor is None else Money(minimum_minor, currency)
    shortfall = None
    if minimum is not None and balance.minor < minimum.minor:
        shortfall = minimum - balance

    trust_requests = tuple(
        RequestLine(
            id=row[0],
            kind=row[1],
            memo=row[2],
            due_on=row[3],
            currency=row[4],
            amount_minor=row[5],
            paid_minor=row[6],
            processing_minor=int(row[7] or 0),
            is_overdue=row[3] is not None and row[3] < today,
        )
        for row in request_rows
    )

    return Statement(
        matter_id=matter_id,
        number=number,
        title=title,
        open_invoices=open_invoices,
        open_invoice_count=open_rows[0][7] if open_rows else 0,
        balance_due=balance_due,
        paid_invoices=paid_invoices,
        trust_balance=balance,
        trust_minimum=minimum,
        trust_shortfall=shortfall,
        trust_lines=trust_lines,
        trust_entry_count=trust_rows[0][-1] if trust_rows else 0,
        pending_trust_minor=pending_trust_minor,
        trust_requests=trust_requests,
    )
