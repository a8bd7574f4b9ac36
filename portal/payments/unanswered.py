"""What the processor has not answered yet: charges and refunds asked about again until they end.

A charge or refund is recorded before the processor hears of it. It waits when the
processor's answer never arrived (the call raised: the processor down, the network cut) or
when the processor said "pending" (a bank refund takes days). Both are asked about again by
the same idempotency key or our own reference, so nothing is made twice:

- `settle_unanswered_charges`: a charge still "created" with no processor reference is looked
  for at the processor (by its idempotency key, or our reference in its metadata). Found, its
  state is recorded as if the answer had arrived. Not found after `GIVE_UP_AFTER`, the
  processor never received it: the charge is canceled, which gives back the invoices'
  reserved balances, and the payment carries a `charge_unanswered` flag.
- `cancel_abandoned_authentications`: a card charge still waiting for the payer's bank
  (3-D Secure) `ABANDONED_AFTER` after it was made was left by the payer: it is canceled at
  the processor, which gives back its reserved balances so the invoices can be paid again.
  A bank debit waiting for micro-deposits is not abandoned: those take days.
- `settle_pending_refunds`: a pending refund is made again under its own idempotency key
  (which returns the first refund if there was one) or fetched by its reference. One that
  ends failed or canceled gives its held amount back and raises a `refund_failed` flag for a
  person, because the payer was told the money is on its way.

Commits: all three are use cases (the delivery worker and `flask settle-unanswered` call them)
and commit before and after each processor call, never across one.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select

from portal import clock, gateways
from portal.db import db
from portal.payments.charging import apply_charge_result
from portal.payments.models import (
    NOT_REFUNDING,
    Charge,
    ChargeStatus,
    PaymentFlag,
    PaymentMethod,
    Refund,
)
from portal.payments.refunds import ask_processor, record_refund_result
from portal.payments.transitions import transition

log = logging.getLogger(__name__)

#: How long a charge or refund may wait before it is asked about again: long enough that the
#: request that made it has finished and Stripe's search index has caught up.
ASK_AFTER = dt.timedelta(minutes=2)
#: A charge the processor still does not know this long after it was made never reached it.
GIVE_UP_AFTER = dt.timedelta(hours=1)
#: A card charge still waiting for 3-D Secure this long after it was made was abandoned:
#: Stripe's own authentication sessions end after about ten minutes, and a link's grace
#: after expiry is 15.
ABANDONED_AFTER = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Settled:
    """A charge or refund (by public id) whose state changed, and its new state."""

    ref: str
    status: str


#: What each round waits on: a charge with no processor answer; a card charge the processor
#: answered but the payer's bank still waits on (3-D Secure); a pending refund.
UNANSWERED = (Charge.status == ChargeStatus.CREATED) & Charge.gateway_ref.is_(None)
AT_THE_BANK = (
    (Charge.status == ChargeStatus.CREATED)
    & Charge.gateway_ref.is_not(None)
    & (Charge.method == PaymentMethod.CARD)
)
PENDING_REFUND = Refund.status == "pending"


def _waiting(
    model: type[Charge] | type[Refund],
    where: ColumnElement[bool],
    cutoff: dt.datetime,
    limit: int,
) -> list[int]:
    """The ids of `model`'s rows matching `where` made by `cutoff`, oldest first; the read is
    ended (committed) so that no transaction stays open across the processor calls."""
    ids = list(
        db.session.scalars(
            select(model.id)
            .where(where, model.created_at <= cutoff)
            .order_by(model.id)
            .limit(limit)
        )
    )
    db.session.commit()  # end the read: no transaction stays open across the calls below
    return ids


def settle_unanswered_charges(
    *,
    older_than: dt.timedelta = ASK_AFTER,
    give_up_after: dt.timedelta = GIVE_UP_AFTER,
    limit: int = 100,
) -> list[Settled]:
    """Look for charges whose create call got no answer (commits). Returns those settled."""
    now = clock.now()
    settled: list[Settled] = []
    for charge_id in _waiting(Charge, UNANSWERED, now - older_than, limit):
        charge = db.session.get(Charge, charge_id)
        if charge is None or charge.status is not ChargeStatus.CREATED or charge.gateway_ref:
            continue
        gateway = gateways.for_account(charge.merchant_account)
        try:
            found = gateway.find_charge(charge.public_id, idempotency_key=charge.idempotency_key)
        except Exception:
            log.exception("charge %s: the processor did not answer the search", charge.public_id)
            db.session.rollback()
            continue
        if found is not None:
            apply_charge_result(charge, found)
        elif charge.created_at <= now - give_up_after:
            transition(
                charge,
                ChargeStatus.CANCELED,
                source="portal",
                reason="the processor never received this charge",
            )
            _flag(
                charge,
                "charge_unanswered",
                f"Charge {charge.public_id} got no answer from the processor, which has no "
                "record of it: nothing was charged. The payer may try again.",
            )
        db.session.refresh(charge, ["status"])
        if charge.status is not ChargeStatus.CREATED:
            settled.append(Settled(charge.public_id, charge.status.value))
        db.session.commit()
    return settled


def cancel_abandoned_authentications(
    *, older_than: dt.timedelta = ABANDONED_AFTER, limit: int = 100
) -> list[Settled]:
    """Cancel card charges left waiting for 3-D Secure longer than `older_than` (commits).

    Returns those whose state changed: canceled, or, when the payer finished just before the
    cancel, whatever the processor answered. One the processor does not answer waits for the
    next round.
    """
    settled: list[Settled] = []
    for charge_id in _waiting(Charge, AT_THE_BANK, clock.now() - older_than, limit):
        charge = db.session.get(Charge, charge_id)
        if charge is None or charge.status is not ChargeStatus.CREATED or not charge.gateway_ref:
            continue
        gateway = gateways.for_account(charge.merchant_account)
        try:
            result = gateway.cancel(
                charge.gateway_ref, idempotency_key=f"{charge.idempotency_key}:abandoned"
            )
        except Exception:
            log.exception("charge %s: the processor did not answer the cancel", charge.public_id)
            db.session.rollback()
            continue
        apply_charge_result(charge, result)
        db.session.refresh(charge, ["status"])
        if charge.status is not ChargeStatus.CREATED:
            settled.append(Settled(charge.public_id, charge.status.value))
        db.session.commit()
    return settled


def settle_pending_refunds(
    *, older_than: dt.timedelta = ASK_AFTER, limit: int = 100
) -> list[Settled]:
    """Ask the processor about refunds pending longer than `older_than` (commits).

    Returns the refunds whose state changed. A processor that still does not answer leaves
    its refunds pending for the next round.
    """
    settled: list[Settled] = []
    for refund_id in _waiting(Refund, PENDING_REFUND, clock.now() - older_than, limit):
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
                _flag(
                    charge,
                    "refund_failed",
                    f"Refund {refund.public_id} of {refund.amount_minor} minor units of "
                    f"{charge.currency} ended {refund.status} at the processor: the money did "
                    "not go back. Tell the payer, and refund again or another way.",
                )
            settled.append(Settled(refund.public_id, refund.status))
        db.session.commit()
    return settled


def settle_all() -> list[Settled]:
    """One round of all three, as the delivery worker runs it (commits)."""
    return (
        settle_unanswered_charges() + cancel_abandoned_authentications() + settle_pending_refunds()
    )


def _flag(charge: Charge, code: str, detail: str) -> None:
    db.session.add(
        PaymentFlag(
            firm_id=charge.firm_id,
            payment_id=charge.payment_id,
            charge_id=charge.id,
            code=code,
            detail=detail,
            created_at=clock.now(),
        )
    )
