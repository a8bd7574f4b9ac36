"""What the firm's staff are told about payments (portal.notifications), from payments' rows.

`transitions.transition` calls `after_transition` once a charge has moved, and `append_trust`
calls `trust_shortfall` when a reversal or refund takes a matter's trust below zero; both in
the caller's transaction. Each event carries a key of its own, so a processor's event
delivered twice, or a use case run again, emails once:

- a payment succeeded or failed: once per payment, when none of its charges is in flight
  (a payment split between operating and trust is one email, not two);
- an unmatched payment arrived: once per payment, when it succeeded;
- refunded: once per refund; disputed, returned: once per charge and processor event;
- a dispute won (disputed -> succeeded: the money comes back): once per charge and processor
  event, to the users who chose disputes (kind `payment_disputed`, outcome "won"), so whoever
  heard of the dispute hears how it ended;
- trust below zero: once per flag the portal raised.

Nothing about the card is said (no brand, no digits), only amounts, names and numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from portal.billing.models import Client, Matter
from portal.db import db
from portal.notifications.choices import Kind
from portal.notifications.sending import PAYMENT_PATH, Notice, notify
from portal.payments.models import (
    IN_FLIGHT,
    UNMATCHED,
    Charge,
    ChargeEvent,
    ChargeStatus,
    Payment,
    PaymentFlag,
)

S = ChargeStatus
_PER_CHARGE = {
    S.REFUNDED: Kind.PAYMENT_REFUNDED,
    S.PARTIALLY_REFUNDED: Kind.PAYMENT_REFUNDED,
    S.DISPUTED: Kind.PAYMENT_DISPUTED,
    S.RETURNED: Kind.PAYMENT_RETURNED,
}


def after_transition(
    charge: Charge, before: ChargeStatus, event: ChargeEvent, *, source_ref: str | None
) -> None:
    """Tell staff what `charge`'s move from `before` (recorded as `event`) means, if anything."""
    to = event.to_status
    if to is S.SUCCEEDED and before is S.DISPUTED:
        # The dispute was won: the money is back. Not a new payment (no "succeeded" email),
        # but news for whoever was told of the dispute.
        notify(
            _notice(
                charge.payment,
                Kind.PAYMENT_DISPUTED,
                key=f"{charge.public_id}:won:{source_ref or event.id}",
                amount_minor=event.amount_minor or (charge.amount_minor - charge.refunded_minor),
                matter_ids=_matters(charge),
                outcome="won",
            )
        )
        return
    if to in (S.SUCCEEDED, S.FAILED, S.CANCELED):
        _settled(charge.payment)
        return
    kind = _PER_CHARGE.get(to)
    if kind is None:
        return
    if kind is Kind.PAYMENT_REFUNDED:
        amount = event.amount_minor or 0
    else:
        amount = event.amount_minor or (charge.amount_minor - charge.refunded_minor)
    notify(
        _notice(
            charge.payment,
            kind,
            key=f"{charge.public_id}:{source_ref or event.id}",
            amount_minor=amount,
            matter_ids=_matters(charge),
        )
    )


def trust_shortfall(charge: Charge, flag: PaymentFlag, balance_minor: int) -> None:
    """A matter's trust balance went below zero through `charge` (flagged as `flag`)."""
    if flag.matter_id is None:  # pragma: no cover - the flag always names its matter
        return
    notify(
        _notice(
            charge.payment,
            Kind.TRUST_SHORTFALL,
            key=str(flag.id),
            amount_minor=-balance_minor,
            matter_ids=[flag.matter_id],
        )
    )


def _settled(payment: Payment) -> None:
    """Once none of the payment's charges is in flight: it failed, or it succeeded."""
    charges = payment.charges
    if not charges or any(charge.status in IN_FLIGHT for charge in charges):
        return
    failed = [charge for charge in charges if charge.status is S.FAILED]
    taken = [charge for charge in charges if charge.status not in (S.FAILED, S.CANCELED)]
    matters = [matter for charge in charges for matter in _matters(charge)]
    if failed:
        notify(
            _notice(
                payment,
                Kind.PAYMENT_FAILED,
                key=payment.public_id,
                amount_minor=sum(charge.amount_minor for charge in failed),
                matter_ids=matters,
            )
        )
        return
    if not taken:
        return  # canceled by the portal: nothing arrived, nothing failed
    amount = sum(charge.amount_minor for charge in taken)
    notify(
        _notice(
            payment,
            Kind.PAYMENT_SUCCEEDED,
            key=payment.public_id,
            amount_minor=amount,
            matter_ids=matters,
        )
    )
    if _unmatched(payment):
        notify(
            _notice(
                payment,
                Kind.UNMATCHED_PAYMENT,
                key=payment.public_id,
                amount_minor=amount,
                matter_ids=matters,
            )
        )


def _unmatched(payment: Payment) -> bool:
    """Whether the payment carries an `unmatched` flag nobody resolved (read, not loaded into
    `payment.flags`, which a caller may be about to add to by id)."""
    found = db.session.scalar(
        select(PaymentFlag.id)
        .where(
            PaymentFlag.payment_id == payment.id,
            PaymentFlag.code == UNMATCHED,
            PaymentFlag.resolved_at.is_(None),
        )
        .limit(1)
    )
    return found is not None


def _matters(charge: Charge) -> list[int]:
    return [line.matter_id for line in charge.allocations]


def _notice(
    payment: Payment,
    kind: Kind,
    *,
    key: str,
    amount_minor: int,
    matter_ids: Iterable[int],
    outcome: str | None = None,
) -> Notice:
    client = db.session.get(Client, payment.client_id) if payment.client_id else None
    matters = [
        matter
        for matter_id in dict.fromkeys(matter_ids)
        if (matter := db.session.get(Matter, matter_id)) is not None
    ]
    return Notice(
        firm_id=payment.firm_id,
        kind=kind,
        key=key,
        console_path=PAYMENT_PATH.format(public_id=payment.public_id),
        amount_minor=amount_minor,
        currency=payment.currency,
        payment_number=payment.number,
        client=client.name if client else None,
        matter=", ".join(f"{m.number} ({m.title})" for m in matters) or None,
        outcome=outcome,
    )
