"""A client's saved payment methods, and payments the firm starts with one.

`GET /clients/{external_id}/payment-methods` lists them, `DELETE .../{id}` removes one (at the
processor too; `portal.payers.services`), and `POST /payments` charges one off-session
(`portal.payments.firm_charges.charge_saved_method`, the use case the console's manual entry
calls too). Every lookup is scoped to the calling firm (`g.firm_id`).
"""

from __future__ import annotations

from flask import Response, g, request

from portal.api.auth import actor
from portal.api.schemas import (
    ChargeKeyHeader,
    ClientMethodPath,
    ExternalIdPath,
    FirmPaymentIn,
    PaymentMethodList,
    PaymentMethodOut,
    PaymentOut,
)
from portal.api.views import api
from portal.billing.services import client_by_external_id
from portal.firms import scopes
from portal.firms.services import firm_by_id, firm_today
from portal.payers import services as payers
from portal.payments import queries
from portal.payments.firm_charges import ChargeLine, charge_saved_method


@api.route(
    "GET",
    "/clients/<external_id>/payment-methods",
    summary="List a client's saved payment methods",
    tag="payment methods",
    scope=scopes.PAYMENTS_READ,
    path=ExternalIdPath,
    responses={200: PaymentMethodList},
    errors=(404,),
)
def list_payment_methods(external_id: str) -> PaymentMethodList:
    """The saved methods that may pay for this client (its own payers' and those of payers
    attached to it), oldest first: the payer, brand or bank, last four, expiry, and the
    consent (its scope, how and when it was given, its exact words). Only tokens are kept at
    the processor; no card or account number is stored or shown."""
    client = client_by_external_id(g.firm_id, external_id)
    day = firm_today(firm_by_id(g.firm_id))
    return PaymentMethodList(
        data=[
            PaymentMethodOut.of(m, expiring=payers.is_expiring(m, day))
            for m in payers.active_methods(g.firm_id, client.id)
        ]
    )


@api.route(
    "DELETE",
    "/clients/<external_id>/payment-methods/<id>",
    summary="Remove a saved payment method",
    tag="payment methods",
    scope=scopes.PAYMENTS_CHARGE,
    path=ClientMethodPath,
    responses={204: None},
    errors=(404,),
)
def remove_payment_method(external_id: str, id: str) -> Response:
    """Forget the method here and detach it at the processor (audited as
    `saved_method.removed`, with the key as the actor). 204; removing it again is 404."""
    client = client_by_external_id(g.firm_id, external_id)
    payers.remove_method(g.firm_id, client.id, id, actor=actor())
    return Response(status=204)


@api.route(
    "POST",
    "/payments",
    summary="Charge a saved payment method",
    tag="payments",
    scope=scopes.PAYMENTS_CHARGE,
    headers=ChargeKeyHeader,
    body=FirmPaymentIn,
    responses={200: PaymentOut, 201: PaymentOut},
    errors=(404, 409),
)
def create_payment(headers: ChargeKeyHeader, body: FirmPaymentIn) -> tuple[PaymentOut, int]:
    """A payment the firm starts with a payer's saved method, the payer away (off-session).
    The method must have been saved with consent to `future_firm_initiated` payments (else
    422 `consent-missing`), and kept at every merchant account the lines are charged to (else
    422 `method-not-kept-there`: e.g. a card kept at an operating account's Stripe account, for
    lines with a trust deposit at a separate Stripe account; nothing is recorded or charged);
    a client, payer or method that is not the firm's, or a method of
    a payer who does not pay for this client, is 404. Lines are checked as a client's payment
    is: no amount over what is due on the invoice (422), deposits go only into trust;
    invoices are charged to operating and deposits to trust, one charge per account, with
    the usual postings and receipt email. 201 with the payment, even when declined (its
    `status` says so); the same `Idempotency-Key` again answers 200 with the first payment
    and charges nothing (409 when that key was used for another client or total). When the
    payer's bank asks the payer to confirm a payment made without them, the charge fails
    with `failure_code` `authentication_required`, nothing is charged, and the client is
    emailed a new link to pay it themself, carrying the payment's lines and amounts."""
    outcome = charge_saved_method(
        firm_id=g.firm_id,
        client=body.client,
        payer=body.payer,
        payment_method=body.payment_method,
        lines=[
            ChargeLine(
                invoice=line.invoice,
                amount=line.amount,
                matter=line.matter,
                trust_amount=line.trust_amount,
            )
            for line in body.lines
        ],
        idempotency_key=headers.idempotency_key,
        ip=request.remote_addr or "",
        user_agent=request.user_agent.string,
        ar_note=body.ar_note,
    )
    answer = PaymentOut.of(queries.payment_for_firm(g.firm_id, outcome.payment.public_id))
    return answer, 200 if outcome.is_replay else 201
