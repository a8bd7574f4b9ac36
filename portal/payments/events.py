"""Processor events: verified, recorded once in the inbox, and applied to our charges.

Commits: `receive_gateway_event` (an event delivered to POST /hooks/...) and
`apply_gateway_events` (events a gateway handed back outside a charge or refund call, such as
the sandbox's ACH settlement) are use cases and each commits its one unit of work.
`take_gateway_events`, `apply_gateway_event` and everything else here never commit: the
charging and refund use cases call `take_gateway_events` for the events a gateway returns with
its answer, inside their own transaction. Every event, however it arrives, goes through
`take_gateway_events`: the same de-duplication through `InboundEvent`, the same outcome.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal import clock, gateways
from portal.db import db
from portal.errors import NotFound
from portal.firms.models import MerchantAccount
from portal.gateways.base import GatewayEvent
from portal.gateways.models import InboundEvent
from portal.payments.models import (
    NOT_REFUNDING,
    Charge,
    ChargeStatus,
    PaymentFlag,
    PaymentMethod,
    Refund,
)
from portal.payments.transitions import remember_instrument, transition

S = ChargeStatus


def receive_gateway_event(merchant_account_id: int, body: bytes, signature: str | None) -> str:
    """Verify, de-duplicate and apply one processor event for a merchant account (commits).

    Raises `portal.gateways.base.BadSignature` when the signature does not verify, and
    NotFound for an unknown account. Returns what was done, for the log and the inbox.
    """
    account = _account(merchant_account_id)
    event = gateways.for_account(account).parse_event(body, signature)
    (outcome,) = take_gateway_events(account, [event])
    db.session.commit()
    return outcome


def apply_gateway_events(merchant_account_id: int, events: Sequence[GatewayEvent]) -> list[str]:
    """Apply events a gateway handed back outside a charge or refund call (commits).

    For the sandbox's ACH settlement (`SandboxGateway.settle_due`): each event is taken
    exactly as if it had been delivered to the hook. Returns each event's outcome.
    """
    outcomes = take_gateway_events(_account(merchant_account_id), events)
    db.session.commit()
    return outcomes


def take_gateway_events(account: MerchantAccount, events: Sequence[GatewayEvent]) -> list[str]:
    """Record each verified event in the inbox once and apply it; "duplicate" if seen before.

    Not committed: the caller's transaction holds the inbox rows and their effects together.
    """
    outcomes = []
    for event in events:
        try:
            with db.session.begin_nested():
                inbox = InboundEvent(
                    gateway=account.gateway,
                    event_id=event.event_id,
                    merchant_account_id=account.id,
                    type=event.type,
                    received_at=clock.now(),
                )
                db.session.add(inbox)
                db.session.flush()
        except IntegrityError:
            outcomes.append("duplicate")
            continue
        inbox.outcome = apply_gateway_event(account, event)
        outcomes.append(inbox.outcome)
    return outcomes


def apply_gateway_event(account: MerchantAccount, event: GatewayEvent) -> str:
    """Record what a verified processor event says about one of this account's charges."""
    conditions = []
    if event.gateway_ref:
        conditions.append(Charge.gateway_ref == event.gateway_ref)
    if event.charge_ref:
        conditions.append(Charge.public_id == event.charge_ref)
    if not conditions:
        return "ignored: names no charge"
    charge = db.session.scalar(
        select(Charge).where(
            Charge.merchant_account_id == account.id,
            conditions[0] if len(conditions) == 1 else (conditions[0] | conditions[1]),
        )
    )
    if charge is None:
        return "ignored: unknown charge"
    if charge.gateway_ref is None and event.gateway_ref:
        charge.gateway_ref = event.gateway_ref
    remember_instrument(charge, event.brand, event.last4, event.fee_minor)
    if event.status is None:
        return f"recorded: {event.type}"
    if event.status is S.FAILED:
        charge.failure_code = event.failure_code
        charge.failure_message = event.failure_message
    if event.status in (S.REFUNDED, S.PARTIALLY_REFUNDED):
        return _apply_refund_event(charge, event)
    status = event.status
    if status is S.DISPUTED and charge.method is PaymentMethod.ACH:
        # A bank debit that fails after it succeeded reaches Stripe as a dispute; for the
        # ledger it is an ACH return, and final.
        status = S.RETURNED
    changed = transition(
        charge,
        status,
        source="gateway",
        source_ref=event.event_id,
        reason=event.detail or event.failure_message or event.type,
        amount_minor=event.amount_minor,
    )
    if changed:
        return "applied"
    if charge.status in (S.CANCELED, S.FAILED) and status is S.SUCCEEDED:
        # The processor took money for a charge the portal had given up on (canceled when
        # the processor seemed never to have received it): say so loudly, guess nothing.
        db.session.add(
            PaymentFlag(
                firm_id=charge.firm_id,
                payment_id=charge.payment_id,
                charge_id=charge.id,
                code="paid_after_canceled",
                detail=f"The processor reports charge {charge.public_id} succeeded, but the "
                f"portal had recorded it {charge.status.value}. Refund it at the processor or "
                "apply it in the back office.",
                created_at=clock.now(),
            )
        )
        return f"flagged: {status.value} after {charge.status.value}"
    return f"ignored: {charge.status.value} cannot become {status.value}"


def _refunds_in_flight(charge_id: int) -> int:
    """What the portal's own refunds of this charge, recorded before the processor was
    called and not answered yet, add up to."""
    total = db.session.scalar(
        select(func.sum(Refund.amount_minor)).where(
            Refund.charge_id == charge_id,
            Refund.status != "succeeded",
            Refund.status.not_in(NOT_REFUNDING),
        )
    )
    return int(total or 0)


def _apply_refund_event(charge: Charge, event: GatewayEvent) -> str:
    """Check a processor's refund event against what the portal recorded.

    The charge is locked and read fresh first: a refund's answer is recorded under the same
    lock (`refunds.record_refund_result`), so this sees it either wholly recorded or still
    in flight. An event that overtakes the portal's own refund (Stripe may send it before
    the refund request records the answer) is covered by the refunds in flight, not flagged.
    """
    db.session.flush()
    db.session.refresh(charge, ["refunded_minor"], with_for_update=True)
    refunded = int(event.amount_minor or 0)
    if refunded <= charge.refunded_minor:
        return "applied: refund confirmed"
    if refunded <= charge.refunded_minor + _refunds_in_flight(charge.id):
        return "applied: refund in flight (recorded when the processor's answer is)"
    # Refunded at the processor without going through the portal: we cannot tell which
    # invoice or matter it came from, so the firm must be told rather than guessed for.
    db.session.add(
        PaymentFlag(
            firm_id=charge.firm_id,
            payment_id=charge.payment_id,
            charge_id=charge.id,
            code="refund_outside_portal",
            detail=f"The processor reports {refunded} refunded; the portal recorded "
            f"{charge.refunded_minor}. Apply the difference in the back office.",
            created_at=clock.now(),
        )
    )
    return "flagged: refund outside portal"


def _account(merchant_account_id: int) -> MerchantAccount:
    account = db.session.get(MerchantAccount, merchant_account_id)
    if account is None:
        raise NotFound("no such merchant account")
    return account
