"""The matters list: a link's matters with what is owed and held in trust, and who the link's
pages speak to.

Every function here runs a fixed, small number of queries however much data the firm holds,
selects only the columns a page shows, and returns frozen dataclasses that templates display as
they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, bindparam, cast, exists, func, literal, select, union_all

from portal.billing.models import Client, InvoiceStatus
from portal.colors import brand_hex
from portal.db import db
from portal.firms.models import Firm
from portal.links.models import Link
from portal.money import Money
from portal.statements.scope import (
    _COUNTS,
    _PENDING_DEPOSIT,
    _allocations,
    _charges,
    _in_scope,
    _invoices,
    _matters,
    _scope_params,
    _trust,
)
from portal.trust_requests.models import PAYABLE, TrustRequest


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
