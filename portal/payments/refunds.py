"""Refunds: giving back part or all of a payment's allocations.

Commits: `refund_payment` is the use case and owns the transaction. It records the refunds
under the request's idempotency key and commits before the processor hears of them; then, for
each refund, it calls the gateway with no transaction open, records the answer (lowering what
the allocation holds, reopening the invoice through billing or appending the trust reversal
through the ledger, then taking the events the gateway handed back) and commits again.
Nothing else here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import clock, gateways
from portal.billing import balances
from portal.db import db
from portal.errors import NotFound, ValidationFailed
from portal.gateways.base import RefundResult
from portal.ids import new_public_id
from portal.ledger import services as ledger
from portal.payments.events import take_gateway_events
from portal.payments.models import (
    Allocation,
    AllocationKind,
    Charge,
    ChargeStatus,
    Payment,
    Refund,
)
from portal.payments.transitions import append_trust, transition

S = ChargeStatus


def _public_id() -> str:
    return new_public_id(12)


@dataclass(frozen=True)
class RefundLine:
    allocation_id: int
    amount_minor: int


def refund_payment(
    *,
    firm_id: int,
    payment_public_id: str,
    lines: Sequence[RefundLine] | None,
    idempotency_key: str,
    reason: str = "",
) -> list[Refund]:
    """Refund allocations of a payment (all of what is left when `lines` is None). Commits.

    A trust refund is capped at the matter's trust balance: a refund never takes another
    matter's or client's money. The same idempotency key returns the first refunds.
    """
    existing = list(
        db.session.scalars(
            select(Refund)
            .where(
                Refund.firm_id == firm_id,
                Refund.idempotency_key.startswith(f"{idempotency_key}#", autoescape=True),
            )
            .order_by(Refund.id)
        )
    )
    if existing:
        return existing
    payment = db.session.scalar(
        select(Payment).where(Payment.firm_id == firm_id, Payment.public_id == payment_public_id)
    )
    if payment is None:
        raise NotFound("no such payment")
    by_id = {line.id: (charge, line) for charge in payment.charges for line in charge.allocations}
    wanted = lines or [
        RefundLine(line.id, line.amount_minor - line.refunded_minor)
        for charge in payment.charges
        for line in charge.allocations
        if line.amount_minor > line.refunded_minor
    ]
    errors = []
    for n, item in enumerate(wanted):
        found = by_id.get(item.allocation_id)
        if found is None:
            errors.append(
                {
                    "pointer": f"/allocations/{n}/allocation",
                    "detail": "not an allocation of this payment",
                }
            )
            continue
        charge, line = found
        if charge.status not in (S.SUCCEEDED, S.PARTIALLY_REFUNDED):
            errors.append(
                {
                    "pointer": f"/allocations/{n}",
                    "detail": f"the charge is {charge.status.value}; "
                    "only paid charges can be refunded",
                }
            )
        elif not 0 < item.amount_minor <= line.amount_minor - line.refunded_minor:
            errors.append(
                {
                    "pointer": f"/allocations/{n}/amount",
                    "detail": "must be above zero and at most what is left to refund "
                    "on this allocation",
                }
            )
        elif line.kind is AllocationKind.TRUST_DEPOSIT and item.amount_minor > (
            ledger.trust_balance(line.matter_id)
        ):
            errors.append(
                {
                    "pointer": f"/allocations/{n}/amount",
                    "detail": "more than the matter's trust balance; "
                    "a trust refund cannot take other clients' money",
                }
            )
    if errors or not wanted:
        summary = "; ".join(e["detail"] for e in errors) or "nothing is left to refund"
        raise ValidationFailed(summary, errors=errors)

    refunds = []
    try:
        with db.session.begin_nested():
            for n, item in enumerate(wanted):
                charge, line = by_id[item.allocation_id]
                refund = Refund(
                    public_id=_public_id(),
                    firm_id=firm_id,
                    charge_id=charge.id,
                    allocation_id=line.id,
                    amount_minor=item.amount_minor,
                    idempotency_key=f"{idempotency_key}#{n}",
                    reason=reason[:300],
                    created_at=clock.now(),
                )
                db.session.add(refund)
                refunds.append(refund)
    except IntegrityError:
        # The same request arrived twice at once; the other one recorded the refunds.
        return refund_payment(
            firm_id=firm_id,
            payment_public_id=payment_public_id,
            lines=lines,
            idempotency_key=idempotency_key,
            reason=reason,
        )
    db.session.commit()  # the keys are on record before the processor hears of them

    for refund in refunds:
        charge, line = by_id[refund.allocation_id]
        result = gateways.for_account(charge.merchant_account).refund(
            charge.gateway_ref or "",
            refund.amount_minor,
            idempotency_key=f"refund:{refund.public_id}",
        )
        _record_refund_result(refund, charge, line, result, reason=reason)
        db.session.commit()
    return refunds


def _record_refund_result(
    refund: Refund, charge: Charge, line: Allocation, result: RefundResult, *, reason: str
) -> None:
    """Apply the processor's answer to one refund, then the events it handed back."""
    refund.gateway_ref, refund.status = result.gateway_ref or None, result.status
    if result.status != "succeeded":
        return
    db.session.refresh(charge)
    line.refunded_minor += refund.amount_minor
    charge.refunded_minor += refund.amount_minor
    full = charge.refunded_minor == charge.amount_minor
    transition(
        charge,
        S.REFUNDED if full else S.PARTIALLY_REFUNDED,
        source="api",
        source_ref=refund.public_id,
        reason=reason or "refund",
        amount_minor=refund.amount_minor,
    )
    if line.kind is AllocationKind.INVOICE and line.invoice_id is not None:
        balances.reopen(line.invoice_id, refund.amount_minor)
    else:
        append_trust(charge, line.matter_id, -refund.amount_minor, "Refund")
    take_gateway_events(charge.merchant_account, result.events)
