"""The Payment Manager's filters and sort orders as SQL over payments.

`PaymentFilters` is what a list of payments is narrowed to (the API's `GET /payments` and the
console's Payment Manager build the same one); `conditions` turns it into WHERE clauses, and
`Sort` into an ORDER BY with the keyset condition that continues after a given payment.
Calendar dates are days of the firm's time zone (`portal.clock.day_bounds`).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, and_, distinct, exists, func, or_, select

from portal import clock
from portal.billing.models import Client, Invoice, Matter
from portal.firms.models import MerchantAccountKind
from portal.payments.models import (
    IN_FLIGHT,
    UNMATCHED,
    Allocation,
    Charge,
    ChargeStatus,
    Payment,
    PaymentFlag,
    PaymentMethod,
    PaymentSource,
)

S = ChargeStatus

#: Every word `payment_status` can give a payment.
PaymentStatus = Literal[
    "created",
    "processing",
    "failed",
    "partially_failed",
    "succeeded",
    "partially_refunded",
    "refunded",
    "returned",
    "disputed",
]
#: What the list's `status` filter takes: a payment's word, or the one charge status that is
#: never a payment's word ("canceled" charges make a payment "failed" or "partially_failed").
StatusFilter = Literal[PaymentStatus, "canceled"]
PAYMENT_STATUSES: tuple[str, ...] = get_args(PaymentStatus)

_ALL = frozenset(ChargeStatus)
_FAILED = frozenset({S.FAILED, S.CANCELED})


class Sort(enum.StrEnum):
    """The orders a payment list can be read in; a leading "-" is newest or largest first."""

    DATE = "date"
    DATE_DESC = "-date"
    AMOUNT = "amount"
    AMOUNT_DESC = "-amount"

    @property
    def column(self) -> Any:
        return Payment.total_minor if self.value.endswith("amount") else Payment.created_at

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")

    def order_by(self) -> list[Any]:
        """ORDER BY the sort's column, then the id (rows with one value keep a fixed order)."""
        if self.descending:
            return [self.column.desc(), Payment.id.desc()]
        return [self.column.asc(), Payment.id.asc()]

    def after(self, value: Any, payment_id: int) -> ColumnElement[bool]:
        """The rows that come after the row (`value`, `payment_id`) in this order."""
        column = self.column
        if self.descending:
            return or_(column < value, and_(column == value, Payment.id < payment_id))
        return or_(column > value, and_(column == value, Payment.id > payment_id))


@dataclass(frozen=True)
class PaymentFilters:
    """What a payment list is narrowed to; None means no condition."""

    #: One of StatusFilter's words.
    status: str | None = None
    #: Calendar dates in `zone` (the firm's time zone), both inclusive.
    created_from: dt.date | None = None
    created_to: dt.date | None = None
    zone: dt.tzinfo = dt.UTC
    #: External ids, within the firm.
    matter: str | None = None
    client: str | None = None
    invoice: str | None = None
    #: True: only pay-button payments whose reference matched nothing and that nobody has
    #: applied yet (an open `unmatched` flag); False: only the others.
    unmatched: bool | None = None
    method: PaymentMethod | None = None
    #: Payments with a charge to this kind of merchant account.
    account_kind: MerchantAccountKind | None = None
    source: PaymentSource | None = None
    #: The payment's total in minor units, both inclusive.
    amount_min: int | None = None
    amount_max: int | None = None
    #: Declined payments (every charge failed or was canceled) are listed only on request.
    #: The API asks for them unless told `declines=false`, as it always listed them.
    declines: bool = False
    #: The payment number, as stored (portal.payments.numbers.read_payment_number).
    number: str | None = None


def conditions(firm_id: int, filters: PaymentFilters) -> list[ColumnElement[bool]]:
    """The WHERE clauses (all must hold) for the firm's payments matching `filters`."""
    found: list[ColumnElement[bool]] = []
    if filters.status is not None:
        found.append(status_condition(filters.status))
    if not filters.declines:
        found.append(~status_condition("failed"))
    if filters.number is not None:
        found.append(Payment.number == filters.number)
    if filters.created_from is not None:
        found.append(Payment.created_at >= clock.day_bounds(filters.created_from, filters.zone)[0])
    if filters.created_to is not None:
        found.append(Payment.created_at < clock.day_bounds(filters.created_to, filters.zone)[1])
    if filters.client is not None:
        found.append(Payment.client_id == _id_of(Client, firm_id, filters.client))
    if filters.matter is not None:
        matter_id = _id_of(Matter, firm_id, filters.matter)
        found.append(_has_allocation(Allocation.matter_id == matter_id))
    if filters.invoice is not None:
        invoice_id = _id_of(Invoice, firm_id, filters.invoice)
        found.append(_has_allocation(Allocation.invoice_id == invoice_id))
    if filters.unmatched is not None:
        found.append(open_unmatched() if filters.unmatched else ~open_unmatched())
    if filters.method is not None:
        found.append(Payment.method == filters.method)
    if filters.account_kind is not None:
        found.append(
            exists().where(
                Charge.payment_id == Payment.id, Charge.account_kind == filters.account_kind
            )
        )
    if filters.source is not None:
        found.append(Payment.source == filters.source)
    if filters.amount_min is not None:
        found.append(Payment.total_minor >= filters.amount_min)
    if filters.amount_max is not None:
        found.append(Payment.total_minor <= filters.amount_max)
    return found


def open_unmatched() -> ColumnElement[bool]:
    """The payment carries an `unmatched` flag nobody has resolved (applied) yet."""
    return exists().where(
        PaymentFlag.payment_id == Payment.id,
        PaymentFlag.code == UNMATCHED,
        PaymentFlag.resolved_at.is_(None),
    )


def _id_of(model: type[Client | Matter | Invoice], firm_id: int, external_id: str) -> Any:
    """The row id of the firm's record with this external id, as a scalar subquery (none
    for another firm's: it matches nothing)."""
    return (
        select(model.id)
        .where(model.firm_id == firm_id, model.external_id == external_id)
        .scalar_subquery()
    )


def _has_allocation(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return (
        exists()
        .where(Charge.payment_id == Payment.id, Allocation.charge_id == Charge.id)
        .where(condition)
    )


def _has(statuses: Collection[ChargeStatus]) -> ColumnElement[bool]:
    """The payment has at least one charge in one of `statuses`."""
    return exists().where(Charge.payment_id == Payment.id, Charge.status.in_(sorted(statuses)))


def status_condition(word: str) -> ColumnElement[bool]:
    """SQL that holds exactly for the payments `payment_status` gives `word`.

    "canceled", which is never a payment's word, matches payments with a canceled charge.
    The rules mirror `payment_status`, and a test checks the two agree on every mix of charge
    statuses a payment can have.
    """
    if word == "canceled":
        return _has({S.CANCELED})
    if word == "created":
        return _has({S.CREATED}) & ~_has({S.PROCESSING})
    if word == "processing":
        return _has({S.PROCESSING})
    if word == "failed":
        return ~_has(_ALL - _FAILED)
    if word == "partially_failed":
        return ~_has(IN_FLIGHT) & _has(_FAILED) & _has(_ALL - _FAILED)
    if word not in PAYMENT_STATUSES:
        raise ValueError(f"not a payment status: {word!r}")
    status = ChargeStatus(word)
    only_this = _has({status}) & ~_has(_ALL - {status})
    if status is not S.SUCCEEDED:
        return only_this
    # Charges that all settled, in two or more different states, also make "succeeded".
    kinds = (
        select(func.count(distinct(Charge.status)))
        .where(Charge.payment_id == Payment.id)
        .scalar_subquery()
    )
    return ~_has(IN_FLIGHT | _FAILED) & (only_this | (kinds >= 2))
