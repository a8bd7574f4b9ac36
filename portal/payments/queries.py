"""Read-side queries over payments: pages and single payments for the firm's API, and the
payments a back-office sync names when it says its figures already include them.

Each function runs a fixed number of queries however many payments, charges, allocations and
events it returns: the collections are loaded with one SELECT ... IN per relationship, and the
external ids of the invoices and matters they point at with one query each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, Select, distinct, exists, func, select
from sqlalchemy.orm import joinedload, selectinload

from portal import clock
from portal.billing.models import Client, Invoice, Matter
from portal.db import db
from portal.errors import NotFound
from portal.payments.models import (
    IN_FLIGHT,
    UNMATCHED,
    Allocation,
    Charge,
    ChargeStatus,
    Payment,
    PaymentFlag,
    Refund,
    payment_status,
)
from portal.trust_requests.models import TrustRequest

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

#: How many ids go into one `IN (...)` list.
CHUNK = 500

_ALL = frozenset(ChargeStatus)
_FAILED = frozenset({S.FAILED, S.CANCELED})


@dataclass(frozen=True)
class PaymentFilters:
    """What a payment list is narrowed to; None means no condition."""

    #: One of STATUS_FILTERS.
    status: str | None = None
    #: UTC calendar dates, both inclusive.
    created_from: dt.date | None = None
    created_to: dt.date | None = None
    #: External ids, within the firm.
    matter: str | None = None
    client: str | None = None
    #: True: only pay-button payments whose reference matched nothing (flagged `unmatched`);
    #: False: only the others.
    unmatched: bool | None = None
    #: The payment number, as stored (portal.payments.numbers.read_payment_number).
    number: str | None = None


@dataclass(frozen=True)
class PaymentView:
    """One payment with everything the API shows of it loaded, and the words it needs."""

    payment: Payment
    #: `payment_status(payment)`.
    status: str
    #: The client's external id; None for a public pay page payment that matched no client.
    client: str | None
    #: External ids of the invoices and matters the allocations and flags point at, by id.
    invoices: Mapping[int, str] = field(default_factory=dict)
    matters: Mapping[int, str] = field(default_factory=dict)
    #: Public ids of the trust requests the allocations pay, by id.
    trust_requests: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentPage:
    """A page of payments in id order; `last_id` is where the next page starts after."""

    items: list[PaymentView]
    last_id: int | None


def payments_page(
    *, firm_id: int, filters: PaymentFilters, after_id: int | None, limit: int
) -> PaymentPage:
    """A page of the firm's payments matching `filters`, oldest first, after `after_id`."""
    statement = _payments(firm_id).where(*_conditions(firm_id, filters))
    if after_id is not None:
        statement = statement.where(Payment.id > after_id)
    rows = list(db.session.execute(statement.order_by(Payment.id).limit(limit + 1)))
    last_id = None
    if len(rows) > limit:
        rows = rows[:limit]
        last_id = rows[-1][0].id
    return PaymentPage(_views(rows), last_id)


def payment_for_firm(firm_id: int, public_id: str) -> PaymentView:
    """The firm's payment with this public id; another firm's is "not found" too."""
    row = db.session.execute(_payments(firm_id).where(Payment.public_id == public_id)).first()
    if row is None:
        raise NotFound("No payment of this firm has this id.")
    return _views([row])[0]


def refunds_by_key(firm_id: int, idempotency_key: str) -> list[Refund]:
    """The refunds `payments.services.refund_payment` recorded under one request's key.

    That service stores each refund of a request as "<key>#<n>".
    """
    return list(
        db.session.scalars(
            select(Refund)
            .where(
                Refund.firm_id == firm_id,
                Refund.idempotency_key.startswith(f"{idempotency_key}#", autoescape=True),
            )
            .order_by(Refund.id)
        )
    )


def echoed_payments(firm_id: int, public_ids: Collection[str]) -> dict[str, Payment]:
    """The firm's payments with these public ids, their charges and allocations loaded.

    Ids of other firms' payments are simply absent, exactly like ids that do not exist.
    """
    found: dict[str, Payment] = {}
    ordered = sorted(public_ids)
    for start in range(0, len(ordered), CHUNK):
        payments = db.session.scalars(
            select(Payment)
            .options(selectinload(Payment.charges).selectinload(Charge.allocations))
            .where(
                Payment.firm_id == firm_id,
                Payment.public_id.in_(ordered[start : start + CHUNK]),
            )
        )
        found.update((payment.public_id, payment) for payment in payments)
    return found


def invoice_allocations(invoice_ids: Iterable[int]) -> dict[int, list[Allocation]]:
    """Every portal allocation to these invoices, by invoice id, with its charge loaded."""
    found: dict[int, list[Allocation]] = {}
    ids = sorted(set(invoice_ids))
    for start in range(0, len(ids), CHUNK):
        allocations = db.session.scalars(
            select(Allocation)
            .options(joinedload(Allocation.charge))
            .where(Allocation.invoice_id.in_(ids[start : start + CHUNK]))
            .order_by(Allocation.id)
        )
        for allocation in allocations:
            if allocation.invoice_id is not None:
                found.setdefault(allocation.invoice_id, []).append(allocation)
    return found


# The statements behind the views.


def _payments(firm_id: int) -> Select[Payment, str]:
    """The firm's payments with the client's external id and every collection the API shows.

    `populate_existing` makes the answer what the database holds now, even when the session
    already holds some of these rows from earlier in the request (a refund, for instance).
    """
    return (
        select(Payment, Client.external_id)
        .outerjoin(Client, Client.id == Payment.client_id)
        .where(Payment.firm_id == firm_id)
        .options(
            selectinload(Payment.charges).options(
                joinedload(Charge.merchant_account),
                selectinload(Charge.allocations),
                selectinload(Charge.events),
            ),
            selectinload(Payment.flags),
        )
        .execution_options(populate_existing=True)
    )


def _views(rows: Sequence[Any]) -> list[PaymentView]:
    payments = [(row[0], row[1]) for row in rows]
    invoice_ids: set[int] = set()
    matter_ids: set[int] = set()
    request_ids: set[int] = set()
    for payment, _ in payments:
        for charge in payment.charges:
            for allocation in charge.allocations:
                matter_ids.add(allocation.matter_id)
                if allocation.trust_request_id is not None:
                    request_ids.add(allocation.trust_request_id)
                if allocation.invoice_id is not None:
                    invoice_ids.add(allocation.invoice_id)
        matter_ids.update(flag.matter_id for flag in payment.flags if flag.matter_id is not None)
    invoices = _external_ids(Invoice, invoice_ids)
    matters = _external_ids(Matter, matter_ids)
    requests = _request_public_ids(request_ids)
    return [
        PaymentView(
            payment=payment,
            status=payment_status(payment),
            client=client,
            invoices=invoices,
            matters=matters,
            trust_requests=requests,
        )
        for payment, client in payments
    ]


def _external_ids(model: type[Invoice] | type[Matter], ids: set[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        rows = db.session.execute(
            select(model.id, model.external_id).where(model.id.in_(ordered[start : start + CHUNK]))
        )
        found.update((id_, external_id) for id_, external_id in rows)
    return found


def _request_public_ids(ids: set[int]) -> dict[int, str]:
    """Public ids of trust requests by id; no query when there are none."""
    found: dict[int, str] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        rows = db.session.execute(
            select(TrustRequest.id, TrustRequest.public_id).where(
                TrustRequest.id.in_(ordered[start : start + CHUNK])
            )
        )
        found.update((id_, public_id) for id_, public_id in rows)
    return found


# Filters, as SQL conditions on payments.


def _conditions(firm_id: int, filters: PaymentFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.status is not None:
        conditions.append(status_condition(filters.status))
    if filters.created_from is not None:
        conditions.append(Payment.created_at >= clock.start_of_day(filters.created_from))
    if filters.created_to is not None:
        conditions.append(
            Payment.created_at < clock.start_of_day(filters.created_to + dt.timedelta(1))
        )
    if filters.client is not None:
        conditions.append(
            Payment.client_id
            == select(Client.id)
            .where(Client.firm_id == firm_id, Client.external_id == filters.client)
            .scalar_subquery()
        )
    if filters.matter is not None:
        matter_id = (
            select(Matter.id)
            .where(Matter.firm_id == firm_id, Matter.external_id == filters.matter)
            .scalar_subquery()
        )
        conditions.append(
            exists()
            .where(Charge.payment_id == Payment.id, Allocation.charge_id == Charge.id)
            .where(Allocation.matter_id == matter_id)
        )
    if filters.number is not None:
        conditions.append(Payment.number == filters.number)
    if filters.unmatched is not None:
        flagged = exists().where(
            PaymentFlag.payment_id == Payment.id, PaymentFlag.code == UNMATCHED
        )
        conditions.append(flagged if filters.unmatched else ~flagged)
    return conditions


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
