"""What the client pages' queries share: the link's scope as SQL, the matter row, and the trust
ledger with its running balances.

The queries are built once, at import, with bound parameters, and run against the tables
rather than the ORM classes: a matter page is read far more often than anything else, and
building and caching a statement on each request costs more than running it. The statements
read no configuration, so building them at import is safe. Every query is limited to the
link's firm, client and matter scope, so a matter outside it is "not found", exactly like a
matter that does not exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    bindparam,
    cast,
    exists,
    func,
    or_,
    select,
)

from portal.billing.models import Invoice, Matter
from portal.ledger import descriptions
from portal.ledger.models import TrustEntry
from portal.links.models import Link, link_matters
from portal.payments.models import IN_FLIGHT, Allocation, AllocationKind, Charge

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


@dataclass(frozen=True, slots=True)
class TrustLine:
    """One trust ledger entry with the matter's trust balance just after it."""

    posted_on: dt.date
    #: As stored: the back office's words, or the portal's own in English (see `description`).
    recorded: str
    currency: str
    #: Signed: deposits positive, disbursements negative.
    amount_minor: int
    balance_after_minor: int
    #: Who wrote the entry: "back_office" or "portal".
    source: str = "back_office"

    @property
    def description(self) -> str:
        """The entry's words in the language being rendered (statements are shared by every
        language, so this is decided at render time, not when the line is built)."""
        return descriptions.shown(self.recorded, self.source)


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
        _trust.c.source,
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


def _trust_lines(rows: Sequence[Any]) -> tuple[TrustLine, ...]:
    return tuple(
        TrustLine(
            posted_on=posted_on,
            recorded=description,
            currency=line_currency,
            amount_minor=amount_minor,
            balance_after_minor=balance_after_minor,
            source=source,
        )
        for posted_on, description, line_currency, amount_minor, source, balance_after_minor, _ in (
            tuple(row) for row in rows
        )
    )
