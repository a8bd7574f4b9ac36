"""The payment endpoints: list (JSON or CSV) and read the payments clients made, refund them,
and apply an unmatched one.

Reads go through `portal.payments.queries`, which loads a page with a fixed number of queries
(the console's Payment Manager calls the same); the CSV rows come from
`portal.payments.export`. A refund goes through `portal.payments.refund_requests.refund_by_key`,
which keeps the caller's Idempotency-Key; applying goes through
`portal.payments.unmatched.apply_unmatched`. Every lookup is scoped to the calling firm
(`g.firm_id`).
"""

from __future__ import annotations

from flask import Response, current_app, g

from portal.api import csvout
from portal.api.schemas import (
    ApplyIn,
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
from portal.api.views import api
from portal.audit.services import Actor
from portal.firms import scopes
from portal.firms.services import firm_by_id, firm_zone
from portal.payments import export, queries, refund_requests
from portal.payments.services import RefundLine
from portal.payments.unmatched import Target, apply_unmatched

#: Most rows one CSV export holds when no `limit` is given; `X-Next-Cursor` goes on from there.
CSV_MAX_ROWS = 10_000

#: How the document describes the text/csv form of the list.
CSV_CONTENT = {
    "schema": {
        "type": "string",
        "description": "RFC 4180 CSV, CRLF line ends, one header row: "
        + ", ".join(export.HEADER)
        + ". One row per payment, in the list's order. Amounts are integers of minor units "
        "of `currency` (`operating` and `trust`: what was charged to each account); "
        "`created_at` is UTC and `created_on` the day in the firm's time zone; `matters` and "
        "`invoices` are external ids separated by spaces; `flags` lists the open ones. "
        "Without `limit` at most 10,000 rows; the `X-Next-Cursor` header then carries the "
        "cursor for the rest. A text cell starting with = + - or @ is prefixed with '.",
    },
    "example": ",".join(export.HEADER) + "\r\n",
}


@api.route(
    "GET",
    "/payments",
    summary="List payments",
    tag="payments",
    scope=scopes.PAYMENTS_READ,
    query=PaymentListQuery,
    responses={200: PaymentPage},
    alternatives={200: {csvout.CSV_TYPE: CSV_CONTENT}},
)
def list_payments(query: PaymentListQuery) -> PaymentPage | Response:
    """Oldest first unless `sort` says otherwise; follow `next_cursor` until it is null. Every
    filter given must hold: `status` is the payment's status word (or "canceled": a payment
    with a canceled charge), `created_from`/`created_to` are days in the firm's time zone and
    both inclusive, `matter`, `client` and `invoice` are external ids (one of another firm
    matches nothing), `number` is the payment number the client's receipt shows,
    `amount_min`/`amount_max` bound the total in minor units, and
    `declines=false` leaves declined payments out. With `format=csv` or `Accept: text/csv`,
    the same payments in the same order as text/csv, one row each."""
    zone = firm_zone(firm_by_id(g.firm_id))
    as_csv = csvout.wants_csv(query.format)
    limit = query.limit or (CSV_MAX_ROWS if as_csv else int(current_app.config["API_PAGE_SIZE"]))
    page = queries.payments_page(
        firm_id=g.firm_id,
        filters=query.filters(zone),
        after_id=query.after_id,
        limit=limit,
        sort=query.sort,
    )
    if as_csv:
        response = csvout.attachment(export.HEADER, export.rows(page.items, zone), "payments.csv")
        if (cursor := encode_cursor(page.last_id)) is not None:
            response.headers["X-Next-Cursor"] = cursor
        return response
    return PaymentPage(
        data=[PaymentOut.of(view) for view in page.items],
        next_cursor=encode_cursor(page.last_id),
    )


@api.route(
    "GET",
    "/payments/<id>",
    summary="Read a payment",
    tag="payments",
    scope=scopes.PAYMENTS_READ,
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
    scope=scopes.PAYMENTS_REFUND,
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


@api.route(
    "POST",
    "/payments/<id>/apply",
    summary="Apply an unmatched payment",
    tag="payments",
    scope=scopes.PAYMENTS_REFUND,
    path=PaymentPath,
    body=ApplyIn,
    responses={200: PaymentOut},
    errors=(404, 409),
)
def apply_payment(id: str, body: ApplyIn) -> PaymentOut:
    """Apply a payment from the pay button whose reference matched nothing (`unmatched=true`
    in the list) to one of the firm's invoices (`{"invoice": "<external id>"}`) or to a
    matter's trust (`{"matter": "<external id>"}`). The whole amount is applied; the
    `unmatched` flag is resolved, the back office receives a `payment.applied` posting, and
    the audit log records who did it. Routing still holds: money charged to operating cannot
    become trust, nor trust money pay an invoice (409 `wrong-account`: refund it and ask the
    client to pay the right account); the amount may not exceed what is due on the invoice
    (409 `apply-exceeds-due`). Sending the same request again answers 200 and changes
    nothing; applying it elsewhere afterwards is 409 `already-applied`. Two requests at
    once apply it once."""
    applied = apply_unmatched(
        g.firm_id,
        id,
        Target(invoice=body.invoice, matter=body.matter),
        actor=Actor.api_key(g.api_key_id),
    )
    return PaymentOut.of(queries.payment_for_firm(g.firm_id, applied.public_id))
