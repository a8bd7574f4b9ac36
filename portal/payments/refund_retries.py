"""Refunds the processor has not settled yet: asked about again until they end.

A refund is recorded as pending before the processor hears of it. It stays pending when the
processor's answer never arrived (the call raised) or when the processor said "pending" (a
bank refund takes days). `settle_pending_refunds` asks again, with the refund's own
idempotency key or its processor reference, so a refund is made exactly once; a refund that
ends failed or canceled gives its held amount back and raises a `refund_failed` flag for a
person, because the payer was told their money is on its way.

Commits: `settle_pending_refunds` is a use case (the delivery worker and `flask
settle-refunds` call it) and commits before and after each processor call, never across one.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select

from portal import clock
from portal.db import db
from portal.payments.models import NOT_REFUNDING, Charge, PaymentFlag, Refund
from portal.payments.refunds import ask_processor, record_refund_result

log = logging.getLogger(__name__)

#: How long a refund may stay pending before it is asked about again: long enough that the
#: request that made it has finished, short enough that a lost answer is found quickly.
ASK_AFTER = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class Settled:
    refund: str
    status: str


def settle_pending_refunds(
    *, older_than: dt.timedelta = ASK_AFTER, limit: int = 100
) -> list[Settled]:
    """Ask the processor about refunds pending longer than `older_than` (commits).

    Returns the refunds whose state changed. A processor that still does not answer leaves
    its refunds pending for the next round.
    """
    cutoff = clock.now() - older_than
    ids = list(
        db.session.scalars(
            select(Refund.id)
            .where(Refund.status == "pending", Refund.created_at <= cutoff)
            .order_by(Refund.id)
            .limit(limit)
        )
    )
    db.session.commit()
    settled = []
    for refund_id in ids:
        refund = db.session.get(Refund, refund_id)
        charge = db.session.get(Charge, refund.charge_id) if refund is not None else None
        if refund is None or charge is None or refund.status != "pending":
            continue
        try:
            result = ask_processor(charge, refund)
        except Exception:
            log.exception("refund %s: still no answer from the processor", refund.public_id)
            db.session.rollback()
            continue
        if record_refund_result(refund, result, reason=refund.reason):
            if refund.status in NOT_REFUNDING:
                _flag_failed(charge, refund)
            settled.append(Settled(refund.public_id, refund.status))
        db.session.commit()
    return settled


def _flag_failed(charge: Charge, refund: Refund) -> None:
    db.session.add(
        PaymentFlag(
            firm_id=charge.firm_id,
            payment_id=charge.payment_id,
            charge_id=charge.id,
            code="refund_failed",
            detail=(
                f"Refund {refund.public_id} of {refund.amount_minor} minor units of "
                f"{charge.currency} ended {refund.status} at the processor: the money did not "
                "go back. Tell the payer, and refund again or another way."
            ),
            created_at=clock.now(),
        )
    )
