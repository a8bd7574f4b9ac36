"""What the client pages read: a link's matters with their balances, and one matter's statement.

Every function here runs a fixed, small number of queries however much data the firm holds,
selects only the columns a page shows, and returns frozen dataclasses that templates display as
they are. Every query is limited to the link's firm, client and matter scope, so a matter outside
it is "not found", exactly like a matter that does not exist.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)

from portal import clock
from portal.billing.models import Client, Invoice, InvoiceStatus, Matter
from portal.db import db
from portal.errors import NotFound
from portal.firms.models import Firm
from portal.ledger.models import TrustEntry
from portal.links.models import Link, link_matters
from portal.money import Money
from portal.payments.models import IN_FLIGHT, Allocation, AllocationKind, Charge
from portal.trust_requests.models import PAYABLE, TrustRequest

#: Open invoices listed on a matter page, soonest due first; the page says how many more exist.
OPEN_INVOICES_SHOWN = 50
#: Paid invoices listed on a matter page, most recently paid first.
PAID_INVOICES_SHOWN = 10
#: Trust ledger entries listed on a matter page, newest first (like the top of a bank
#: statement); the full history is one click away, a page of TRUST_HISTORY_PAGE at a time.
TRUST_ENTRIES_SHOWN = 20
#: Trust ledger entries per page of the full trust history.
TRUST_HISTORY_PAGE = 100
#: No matter has more history pages than this (ten million entries).
MAX_HISTORY_PAGE = 100_000

#: A brand colour as the firm stores it, and as the brand stylesheet's URL names it.
_STORED_COLOUR = re.compile(r"#([0-9a-fA-F]{6})")
_URL_COLOUR = re.compile(r"[0-9a-f]{6}")


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a link's pages are for: the firm they come from and the client's own locale."""

    firm: Firm
    #: The client's locale as the back office sent it (None when it sent none).
    client_locale: str | None
    #: The firm's brand colour as six lower-case hex digits, or None for the portal's own.
    brand: str | None


@dataclass(frozen=True, slots=True)
class MatterSummary:
    """One row of the matters list."""

    id: int
    number: str
    title: str
    #: What is owed on open invoices, one amount per currency (usually exactly one).
    balance_due: tuple[Money, ...]
    trust_balance: Money
    #: True when the matter has a minimum trust balance and the balance is below it.
    has_trust_shortfall: bool
    #: How far the trust balance is below the minimum; None when it is not below it.
    trust_shortfall: Money | None = None
    #: Trust deposits paid through the portal that have not cleared yet (bank debits in
    #: flight). They are not part of `trust_balance`.
    pending_trust_minor: int = 0
    #: Part of `balance_due` held by payments still processing, per currency like it.
    processing: tuple[Money, ...] = ()
    #: The firm has asked for money into this matter's trust and it is not paid yet.
    has_open_trust_request: bool = False

    @property
    def suggested_deposit_minor(self) -> int:
        """What would bring trust back to its minimum once pending deposits clear; 0 if none."""
        if self.trust_shortfall is None:
            return 0
        return max(self.trust_shortfall.minor - self.pending_trust_minor, 0)

    @property
    def has_payment_processing(self) -> bool:
        return self.pending_trust_minor > 0 or any(money.minor > 0 for money in self.processing)


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
class TrustLine:
    """One trust ledger entry with the matter's trust balance just after it."""

    posted_on: dt.date
    description: str
    currency: str
    #: Signed: deposits positive, disbursements negative.
    amount_minor: int
    balance_after_minor: int


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


# The queries are built once, at import, with bound parameters, and run against the tables
# rather than the ORM classes: a matter page is read far more often than anything else, and
# building and caching a statement on each request costs more than running it. The statements
# read no configuration, so building them at import is safe.

_matters = Matter.__table__
_invoices = Invoice.__table__
_trust = TrustEntry.__table__
_allocations = Allocation.__table__
_charges = Charge.__table__

#: A trust entry counts unless the back office has sent its own entry for the same money: the
#: portal's entry is then superseded and stays out of balances and out of the client's history
#: (the firm's entry shows the deposit; listing both would look like two deposits).
_COUNTS = _trust.c.superseded_by_id.is_(None)

#: Portal trust deposits whose charge is still in flight (a bank debit takes days to clear).
_PENDING_DEPOSIT = and_(
    _allocations.c.kind == AllocationKind.TRUST_DEPOSIT,
    _charges.c.status.in_(sorted(IN_FLIGHT)),
)


def _in_scope() -> ColumnElement[bool]:
    """A condition on matters: the link's firm and client, and its matters if it names any.

    This is `portal.links.services.visible_matter_ids` as SQL, with the parameters firm_id,
    client_id and link_id (see `_scope_params`). The pages put it inside their own queries
    because loading the ids first would cost a query and, for a client with thousands of
    matters, thousands of bound parameters on every page.
    """
    named = select(link_matters.c.matter_id).where(link_matters.c.link_id == bindparam("link_id"))
    return and_(
        _matters.c.firm_id == bindparam("firm_id"),
        _matters.c.client_id == bindparam("client_id"),
        or_(~exists(named), _matters.c.id.in_(named)),
    )


def _scope_params(link: Link) -> dict[str, int]:
    return {"firm_id": link.firm_id, "client_id": link.client_id, "link_id": link.id}


_LINK_AND_AUDIENCE = (
    select(Link, Firm, Client.locale)
    .join(Firm, Firm.id == Link.firm_id)
    .join(Client, Client.id == Link.client_id)
    .where(Link.public_id == bindparam("public_id"))
)

_OPEN_REQUEST_OF_MATTER = exists(
    select(TrustRequest.__table__.c.id).where(
        TrustRequest.__table__.c.matter_id == _matters.c.id,
        TrustRequest.__table__.c.status.in_(sorted(PAYABLE)),
    )
)

_VISIBLE_MATTERS = (
    select(
        _matters.c.id,
        _matters.c.number,
        _matters.c.title,
        _matters.c.currency,
        _matters.c.trust_minimum_minor,
        _OPEN_REQUEST_OF_MATTER,
    )
    .where(_in_scope())
    .order_by(_matters.c.number, _matters.c.id)
)

_DUE_BY_MATTER = (
    select(
        _invoices.c.matter_id,
        _invoices.c.currency,
        cast(func.sum(_invoices.c.balance_due_minor), BigInteger),
        cast(func.sum(_invoices.c.reserved_minor), BigInteger),
    )
    .where(
        _invoices.c.firm_id == bindparam("firm_id"),
        _invoices.c.matter_id.in_(select(_matters.c.id).where(_in_scope())),
        _invoices.c.status == InvoiceStatus.OPEN,
        _invoices.c.balance_due_minor > 0,
    )
    .group_by(_invoices.c.matter_id, _invoices.c.currency)
    .order_by(_invoices.c.matter_id, _invoices.c.currency)
)

# What each matter holds in trust and what is on its way there, in one query: the counted
# ledger entries and the in-flight portal deposits, side by side, summed per matter.
_trust_and_pending = union_all(
    select(
        _trust.c.matter_id.label("matter_id"),
        _trust.c.amount_minor.label("held_minor"),
        literal(0, BigInteger).label("pending_minor"),
    ).where(
        _trust.c.firm_id == bindparam("firm_id"),
        _trust.c.matter_id.in_(select(_matters.c.id).where(_in_scope())),
        _COUNTS,
    ),
    select(
        _allocations.c.matter_id,
        literal(0, BigInteger),
        _allocations.c.amount_minor,
    )
    .join(_charges, _charges.c.id == _allocations.c.charge_id)
    .where(
        _allocations.c.firm_id == bindparam("firm_id"),
        _allocations.c.matter_id.in_(select(_matters.c.id).where(_in_scope())),
        _PENDING_DEPOSIT,
    ),
).subquery()

_HELD_BY_MATTER = select(
    _trust_and_pending.c.matter_id,
    cast(func.sum(_trust_and_pending.c.held_minor), BigInteger),
    cast(func.sum(_trust_and_pending.c.pending_minor), BigInteger),
).group_by(_trust_and_pending.c.matter_id)

_PENDING_TRUST_OF_MATTER = (
    select(cast(func.coalesce(func.sum(_allocations.c.amount_minor), 0), BigInteger))
    .select_from(_allocations.join(_charges, _charges.c.id == _allocations.c.charge_id))
    .where(_allocations.c.matter_id == bindparam("matter_id"), _PENDING_DEPOSIT)
    .scalar_subquery()
)

# The matter, and what is on its way into its trust account (one query, not two: the page has
# a fixed query budget).
_MATTER = select(
    _matters.c.number,
    _matters.c.title,
    _matters.c.currency,
    _matters.c.trust_minimum_minor,
    _PENDING_TRUST_OF_MATTER,
).where(_matters.c.id == bindparam("matter_id"), _in_scope())

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

# The newest trust entries, each with the balance just after it. The running sum covers the
# whole ledger in posting order (ties by id) before the LIMIT picks the newest, so it is right
# even for entries whose older neighbours are not listed. Superseded portal entries are left
# out of both the list and the sum (see `_COUNTS`).
_TRUST_LINES = (
    select(
        _trust.c.posted_on,
        _trust.c.description,
        _trust.c.currency,
        _trust.c.amount_minor,
        cast(
            func.sum(_trust.c.amount_minor).over(
                order_by=(_trust.c.posted_on, _trust.c.id), rows=(None, 0)
            ),
            BigInteger,
        ),
        func.count().over(),
    )
    .where(_trust.c.matter_id == bindparam("matter_id"), _COUNTS)
    .order_by(_trust.c.posted_on.desc(), _trust.c.id.desc())
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)


def _trust_lines(rows: Sequence[Row[Any]]) -> tuple[TrustLine, ...]:
    return tuple(
        TrustLine(
            posted_on=posted_on,
            description=description,
            currency=line_currency,
            amount_minor=amount_minor,
            balance_after_minor=balance_after_minor,
        )
        for posted_on, description, line_currency, amount_minor, balance_after_minor, _ in rows
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
    total = rows[0][5] if rows else 0
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


def link_and_audience(public_id: str) -> tuple[Link, Audience] | None:
    """The link behind a session and who it speaks for, in one query (every page needs both).

    Whether the link is still live is for the caller to check; None when there is no link.
    """
    row = db.session.execute(_LINK_AND_AUDIENCE, {"public_id": public_id}).first()
    if row is None:
        return None
    link, firm, client_locale = row
    return link, Audience(
        firm=firm, client_locale=client_locale, brand=brand_hex(firm.brand_colour)
    )


def matter_summaries(link: Link) -> tuple[MatterSummary, ...]:
    """List the matters `link` may see, by number, with what is owed and held in trust.

    Three queries whatever the number of matters: the matters, then what is due (and held by
    payments in flight) and what is held in trust (and on its way there), each grouped by
    matter.
    """
    scope = _scope_params(link)
    rows = db.session.execute(_VISIBLE_MATTERS, scope).all()
    if not rows:
        return ()
    due: dict[int, list[Money]] = {}
    processing: dict[int, list[Money]] = {}
    for matter_id, currency, total, reserved in db.session.execute(_DUE_BY_MATTER, scope):
        due.setdefault(matter_id, []).append(Money(total, currency))
        if reserved:
            processing.setdefault(matter_id, []).append(Money(reserved, currency))
    held: dict[int, tuple[int, int]] = {
        matter_id: (total, pending)
        for matter_id, total, pending in db.session.execute(_HELD_BY_MATTER, scope)
    }
    summaries = []
    for matter_id, number, title, currency, minimum_minor, has_request in rows:
        balance_minor, pending_minor = held.get(matter_id, (0, 0))
        shortfall = None
        if minimum_minor is not None and balance_minor < minimum_minor:
            shortfall = Money(minimum_minor - balance_minor, currency)
        summaries.append(
            MatterSummary(
                id=matter_id,
                number=number,
                title=title,
                balance_due=tuple(due.get(matter_id, ())) or (Money(0, currency),),
                trust_balance=Money(balance_minor, currency),
                has_trust_shortfall=shortfall is not None,
                trust_shortfall=shortfall,
                pending_trust_minor=pending_minor,
                processing=tuple(processing.get(matter_id, ())),
                has_open_trust_request=bool(has_request),
            )
        )
    return tuple(summaries)


def statement_for(link: Link, matter_id: int) -> Statement:
    """One matter's invoices and trust ledger, if `link` may see the matter; else NotFound.

    Four queries, each walking an index on the matter: the matter itself (which also enforces
    the link's scope), its open invoices, its recently paid invoices and its trust ledger.
    Totals, counts and running balances come from window functions in the same queries, so
    the work per page does not grow with the rest of the firm's data.
    """
    matter = db.session.execute(_MATTER, {"matter_id": matter_id, **_scope_params(link)}).first()
    if matter is None:
        raise NotFound("matter")  # The same answer for "missing" and "someone else's".
    number, title, currency, minimum_minor, pending_trust_minor = matter
    params = {"matter_id": matter_id}

    open_rows = db.session.execute(_OPEN_INVOICES, params).all()
    today = clock.today()
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
            paid_at=paid_at,
        )
        for number, description, issued_on, due_on, line_currency, total_minor, paid_at in (
            db.session.execute(_PAID_INVOICES, params)
        )
    )

    trust_rows = db.session.execute(
        _TRUST_LINES, {**params, "limit": TRUST_ENTRIES_SHOWN, "offset": 0}
    ).all()
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
        for row in db.session.execute(_OPEN_REQUESTS, params)
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
        trust_entry_count=trust_rows[0][5] if trust_rows else 0,
        pending_trust_minor=pending_trust_minor,
        trust_requests=trust_requests,
    )


def brand_hex(colour: str | None) -> str | None:
    """Six lower-case hex digits from a stored "#rrggbb" colour, or None if it is not one."""
    match = _STORED_COLOUR.fullmatch(colour or "")
    return match.group(1).lower() if match else None


def brand_stylesheet(colour: str) -> str:
    """The per-firm stylesheet for `colour` (six lower-case hex digits), else NotFound.

    Three variables, each readable under WCAG 2.2 AA (contrast of 4.5:1 or more for text):
    --brand, the firm's colour as given, fills the header and the main buttons; --brand-ink,
    black or white, whichever contrasts more with it (at least 4.58:1 for any colour), is
    the text on top of it; --brand-text is the colour for text and controls on the page's own
    light backgrounds: the firm's colour, darkened just enough when it is too pale.
    """
    if not _URL_COLOUR.fullmatch(colour):
        raise NotFound("brand colour")
    rgb = tuple(int(colour[i : i + 2], 16) for i in (0, 2, 4))
    ink = "#ffffff" if _contrast(rgb, _WHITE) >= _contrast(rgb, _BLACK) else "#000000"
    text = rgb
    for step in range(20, -1, -1):  # 100% of the colour, 95%, ... black at worst
        text = tuple(channel * step // 20 for channel in rgb)
        if _contrast(text, _PAGE_WASH) >= _TEXT_CONTRAST:
            break
    text_hex = "#" + "".join(f"{channel:02x}" for channel in text)
    return f":root{{--brand:#{colour};--brand-ink:{ink};--brand-text:{text_hex}}}\n"


#: WCAG 2.2 success criterion 1.4.3: text contrasts 4.5:1 or more with what is behind it.
_TEXT_CONTRAST = 4.5
_WHITE = (255, 255, 255)
_BLACK = (0, 0, 0)
#: The darkest background brand text sits on (--wash in static/css/portal.css).
_PAGE_WASH = (0xF4, 0xF6, 0xF8)


def _luminance(rgb: tuple[int, ...]) -> float:
    """WCAG relative luminance of an sRGB colour (a colour computation: floats are right)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """WCAG contrast ratio of two colours, from 1 (same) to 21 (black on white)."""
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
