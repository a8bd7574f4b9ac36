"""The payment endpoints: list and read the payments clients made, and refund them.

Reads go through `portal.payments.queries`, which loads a page with a fixed number of queries;
a refund goes through `portal.payments.refund_requests.refund_by_key`, which keeps the caller's
Idempotency-Key. Every lookup is scoped to the calling firm (`g.firm_id`).
"""

from __future__ import annotations

from flask import g

from portal.api.schemas import (
    IdempotencyKeyHeader,
    PaymentListQuery,
    PaymentOut,
    PaymentPage,
    PaymentPath,
    RefundIn,
    RefundOut,
    RefundsOut,
    encode_cursor,
)
from portal.api.views import api, page_size
from portal.payments import queries, refund_requests
from portal.payments.services import RefundLine


@api.route(
    "GET",
    "/payments",
    summary="List payments",
    tag="payments",
    query=PaymentListQuery,
    responses={200: PaymentPage},
)
def list_payments(query: PaymentListQuery) -> PaymentPage:
    """Oldest first; follow `next_cursor` until it is null. Every filter given must hold:
    `status` is the payment's status word (or "canceled": a payment with a canceled charge),
    `created_from`/`created_to` are UTC dates and both inclusive, `matter` and `client` are
    external ids (one of another firm matches nothing), `number` is the payment number the
    client's receipt shows."""
    page = queries.payments_page(
        firm_id=g.firm_id,
        filters=query.filters(),
        after_id=query.after_id,
        limit=page_size(query),
    )
    return PaymentPage(
        data=[PaymentOut.of(view) for view in page.items],
        next_cursor=encode_cursor(page.last_id),
    )


@api.route(
    "GET",
    "/payments/<id>",
    summary="Read a payment",
    tag="payments",
    path=PaymentPath,
    responses={200: PaymentOut},
    errors=(404,),
)
def get_payment(id: str) -> PaymentOut:
    """The payment with its charges (and each charge's status history), its allocations to
    invoices and trust, and any flags for the firm."""
    return PaymentOut.of(queries.payment_for_firm(g.firm_id, id))


@api.route(
    "POST",
    "/payments/<id>/refunds",
    summary="Refund a payment",
    tag="payments",
    path=PaymentPath,
    headers=IdempotencyKeyHeader,
    body=RefundIn,
    body_required=False,
    responses={200: RefundsOut, 201: RefundsOut},
    errors=(404, 409),
)
def refund_payment(
    id: str, headers: IdempotencyKeyHeader, body: RefundIn
) -> tuple[RefundsOut, int]:
    """Give back money from some allocations, or with `{}` (or no body) everything left on the
    payment.
    201 with the refunds made; sending the same Idempotency-Key again answers 200 with the
    same refunds and refunds nothing more (409 if the key was used for another payment or
    other amounts). Only settled charges can be refunded, and a trust refund may not exceed
    the matter's trust balance (422)."""
    lines = [RefundLine(line.allocation, line.amount) for line in body.allocations]
    outcome = refund_requests.refund_by_key(
        firm_id=g.firm_id,
        public_id=id,
        lines=lines or None,
        idempotency_key=headers.idempotency_key,
        reason=body.reason,
    )
    answer = RefundsOut(
        refunds=[RefundOut.of(refund) for refund in outcome.refunds],
        payment=PaymentOut.of(outcome.payment),
    )
    return answer, 200 if outcome.is_replay else 201
