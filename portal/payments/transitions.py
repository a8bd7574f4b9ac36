"""The charge transition table applied, and the money effects of each move.

Every change to a charge's status goes through `transition`, which allows only the moves in
`ALLOWED`, appends a `ChargeEvent`, and asks the owners of the figures money changes to apply
it, one call per money move: billing for invoice balances and holds (`billing.balances`), the
ledger for trust entries (`ledger.services`), links and trust requests for their own state,
and the outbox for the posting. Nothing here commits: the use case that called it owns the
transaction (checkout, charging, events, refunds).
"""

from __future__ import annotations

from functools import partial

from portal import clock
from portal.billing import balances
from portal.db import db
from portal.firms.services import firm_by_id, firm_today
from portal.ledger import descriptions
from portal.ledger import services as ledger
from portal.links import services as links
from portal.payments import notices, postings, receipt_emails, trust_money
from portal.payments.models import (
    ALLOWED,
    IN_FLIGHT,
    Allocation,
    AllocationKind,
    Charge,
    ChargeEvent,
    ChargeStatus,
    Payment,
    PaymentFlag,
)

S = ChargeStatus


def transition(
    charge: Charge,
    to: ChargeStatus,
    *,
    source: str,
    source_ref: str | None = None,
    reason: str = "",
    amount_minor: int | None = None,
) -> bool:
    """Move `charge` to `to` if the table allows it, record why, and apply the money effects.

    Returns False, changing nothing, for a move the table does not allow: processors deliver
    out of order (a "processing" after "succeeded"), and such news is stale, not an error.
    Not committed.
    """
    before = charge.status
    if to is before and to is not S.PARTIALLY_REFUNDED:
        return False
    if to not in ALLOWED[before]:
        return False
    charge.status = to
    charge.events.append(
        ChargeEvent(
            from_status=before,
            to_status=to,
            source=source,
            source_ref=source_ref,
            reason=reason[:300],
            amount_minor=amount_minor,
            recorded_at=clock.now(),
        )
    )
    if to is S.SUCCEEDED:
        _settle(charge, redeposit=before is S.DISPUTED)
        if charge.payment.link_id is not None:
            links.mark_paid(charge.payment.link_id)
    elif to in (S.FAILED, S.CANCELED):
        _release(charge)
    elif to in (S.RETURNED, S.DISPUTED):
        _reverse(
            charge,
            kind=(
                descriptions.REVERSAL_ACH_RETURN
                if to is S.RETURNED
                else descriptions.REVERSAL_DISPUTE
            ),
        )
    db.session.flush()
    # The posting is written in this same transaction: the back office can never miss a
    # change, nor hear of one that was rolled back.
    postings.enqueue_for_transition(
        charge,
        before=before,
        to=to,
        source_ref=source_ref,
        reason=reason,
        amount_minor=amount_minor,
    )
    # A trust request paid through this charge follows it: paid, partly paid or open again.
    trust_money.recompute_for_charge(charge)
    if before is S.PROCESSING and to in (S.SUCCEEDED, S.FAILED):
        _tell_payer_when_settled(charge.payment)
    # The firm's staff who asked to hear of it (portal.notifications), keyed on this event.
    notices.after_transition(charge, before, charge.events[-1], source_ref=source_ref)
    return True


def remember_instrument(
    charge: Charge, brand: str | None, last4: str | None, fee_minor: int | None
) -> None:
    """Keep the first brand, last four and fee the processor tells us about a charge."""
    if brand and not charge.instrument_brand:
        charge.instrument_brand = brand[:40]
    if last4 and not charge.instrument_last4:
        charge.instrument_last4 = last4[-4:]
    if fee_minor is not None and charge.fee_minor is None:
        charge.fee_minor = fee_minor


def _tell_payer_when_settled(payment: Payment) -> None:
    """Once no charge of a bank payment is still processing, email how it ended."""
    if any(charge.status in IN_FLIGHT for charge in payment.charges):
        return
    failed = any(charge.status is S.FAILED for charge in payment.charges)
    receipt_emails.queue_receipt_email(payment, "failed" if failed else "settled")


def _settle(charge: Charge, *, redeposit: bool) -> None:
    """Money arrived: lower balances due, append trust deposits (re-deposit after a won dispute)."""
    now = clock.now()
    charge.succeeded_at = charge.succeeded_at or now
    # The day the money reached the bank, as the firm's books count days.
    charge.settled_on = charge.settled_on or firm_today(firm_by_id(charge.firm_id))
    for line in charge.allocations:
        amount = line.amount_minor - line.refunded_minor
        if line.kind is AllocationKind.INVOICE and line.invoice_id is not None:
            balances.pay(
                line.invoice_id,
                amount,
                released_minor=0 if redeposit else line.amount_minor,
                already_counted=partial(_acknowledged, line),
            )
        elif amount > 0:
            append_trust(
                charge,
                line.matter_id,
                amount,
                descriptions.DEPOSIT_RESTORED if redeposit else descriptions.PORTAL_DEPOSIT,
            )


def _acknowledged(line: Allocation) -> bool:
    """Whether the back office already sent its invoice's balance net of this allocation.

    Asked by billing under the invoice's lock: a sync acknowledging this payment at the same
    moment must not see the balance lowered twice.
    """
    db.session.refresh(line, ["acknowledged_at"])
    return line.acknowledged_at is not None


def _release(charge: Charge) -> None:
    """The charge failed or was canceled: give back the invoices' held balances."""
    for line in charge.allocations:
        if line.invoice_id is not None:
            balances.release(line.invoice_id, line.amount_minor)


def _reverse(charge: Charge, *, kind: str) -> None:
    """Money went back out (return or dispute): reopen invoices, append trust reversals.

    The matters' trust ledgers are held first, as a refund holds them: two reversals (or a
    reversal and a refund's answer) on one matter then run one after the other, and the
    second sees the first when it checks whether the balance went below zero.
    """
    ledger.hold_trust(
        line.matter_id
        for line in charge.allocations
        if line.kind is not AllocationKind.INVOICE and line.amount_minor > line.refunded_minor
    )
    for line in charge.allocations:
        amount = line.amount_minor - line.refunded_minor
        if amount <= 0:
            continue
        if line.kind is AllocationKind.INVOICE and line.invoice_id is not None:
            balances.reopen(line.invoice_id, amount)
        else:
            append_trust(charge, line.matter_id, -amount, kind)


def append_trust(charge: Charge, matter_id: int, amount_minor: int, kind: str) -> None:
    """Append a portal entry to a matter's trust ledger; flag loudly if it goes below zero.

    `kind` is one of portal.ledger.descriptions' constants: pages translate it when shown.
    """
    ledger.append_portal_entry(
        firm_id=charge.firm_id,
        matter_id=matter_id,
        amount_minor=amount_minor,
        currency=charge.currency,
        description=descriptions.stored(kind, charge.payment.public_id),
        charge_id=charge.id,
    )
    if amount_minor < 0 and (balance := ledger.trust_balance(matter_id)) < 0:
        flag = PaymentFlag(
            firm_id=charge.firm_id,
            payment_id=charge.payment_id,
            charge_id=charge.id,
            matter_id=matter_id,
            code="trust_below_zero",
            detail=(
                f"This reversal took the matter's trust balance to {balance} minor units "
                f"of {charge.currency}. No other matter or client was touched; the firm "
                "must cover the shortfall from its own funds."
            ),
            created_at=clock.now(),
        )
        db.session.add(flag)
        db.session.flush()
        postings.enqueue_trust_shortfall(charge, matter_id=matter_id, balance_minor=balance)
        notices.trust_shortfall(charge, flag, balance)
