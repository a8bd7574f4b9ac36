"""Read-side queries over payments: pages and single payments for the firm's API and the
console's Payment Manager, and the payments a back-office sync names when it says its figures
already include them.

Each function runs a fixed number of queries however many payments, charges, allocations and
events it returns: the collections are loaded with one SELECT ... IN per relationship, and the
external ids of the invoices and matters they point at with one query each. The filters and
sort orders are in `portal.payments.filters`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload, selectinload

from portal.billing.models import Client, Invoice, Matter
from portal.db import db
from portal.errors import NotFound
from portal.payments.filters import (
    PAYMENT_STATUSES,
    PaymentFilters,
    PaymentStatus,
    Sort,
    StatusFilter,
    conditions,
)
from portal.payments.models import (
    Allocation,
    Charge,
    Payment,
    Refund,
    payment_status,
)
from portal.trust_requests.models import TrustRequest

# Re-exported: the API's models import these words from here.
__all__ = ["PAYMENT_STATUSES", "PaymentFilters", "PaymentStatus", "StatusFilter"]

#: How many ids go into one `IN (...)` list.
CHUNK = 500


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
    *,
    firm_id: int,
    filters: PaymentFilters,
    after_id: int | None,
    limit: int,
    sort: Sort = Sort.DATE,
) -> PaymentPage:
    """A page of the firm's payments matching `filters` in `sort`'s order, after the payment
    `after_id` (the last one of the previous page; a payment of another firm starts over)."""
    statement = _payments(firm_id).where(*conditions(firm_id, filters))
    if after_id is not None:
        last = db.session.execute(
            select(sort.column).where(Payment.firm_id == firm_id, Payment.id == after_id)
        ).first()
        if last is not None:
            statement = statement.where(sort.after(last[0], after_id))
    statement = statement.order_by(*sort.order_by()).limit(limit + 1)
    rows = list(db.session.execute(statement))
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
