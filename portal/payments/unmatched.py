"""Apply an unmatched payment: money from the pay button whose reference matched nothing.

Such a payment was taken unapplied (into operating) and flagged `unmatched`. A person at the
firm applies it, once, to one of its invoices or to a matter's trust. Routing still holds:
money charged to operating pays invoices and never becomes trust, and money charged to trust
never pays an invoice; what cannot be applied must be refunded and paid again into the right
account. The use case (`apply_unmatched`) commits; the API and the console call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from portal import clock
from portal.audit import services as audit
from portal.billing import balances
from portal.billing.models import Invoice, Matter
from portal.db import db
from portal.errors import Conflict, NotFound
from portal.firms.models import MerchantAccountKind
from portal.money import format_money
from portal.payments import postings
from portal.payments.models import (
    UNMATCHED,
    Allocation,
    AllocationKind,
    Charge,
    ChargeStatus,
    Payment,
    PaymentFlag,
)
from portal.payments.transitions import append_trust
from portal.postings import payloads


class ApplyRefused(Conflict):
    """The payment cannot be applied as asked; the detail says what to do instead."""

    code = "apply-refused"
    title = "This payment cannot be applied as asked"


class WrongAccount(ApplyRefused):
    """Routing: operating money cannot become trust, nor trust money pay an invoice."""

    code = "wrong-account"
    title = "The money is in the other merchant account"


class ExceedsDue(ApplyRefused):
    code = "apply-exceeds-due"
    title = "The payment is more than is due on the invoice"


class AlreadyApplied(ApplyRefused):
    code = "already-applied"
    title = "This payment has already been applied"


@dataclass(frozen=True)
class Target:
    """Where to apply: one invoice (external id), or one matter's trust (external id)."""

    invoice: str | None = None
    matter: str | None = None

    def __post_init__(self) -> None:
        if (self.invoice is None) == (self.matter is None):
            raise ValueError("apply to an invoice or to a matter's trust, not both or neither")


@dataclass(frozen=True)
class Applied:
    """The payment's public id, and whether this call applied it (False: a repeat)."""

    public_id: str
    is_replay: bool


def apply_unmatched(firm_id: int, public_id: str, target: Target, *, actor: audit.Actor) -> Applied:
    """Apply the firm's unmatched payment `public_id` to `target`, once (commits).

    Two people applying one payment at once apply it once: the `unmatched` flag is resolved
    by a conditional UPDATE, which only one transaction can win; the other finds it resolved
    and answers as a repeat (the same target) or AlreadyApplied. Repeating a request that
    succeeded changes nothing. The allocation, the invoice's balance or the trust entry, the
    resolved flag, the `payment.applied` posting and the audit event commit together.
    """
    with db.transaction():
        payment = _payment(firm_id, public_id)
        flag = _unmatched_flag(payment)
        if flag.resolved_at is not None:
            return _repeat(firm_id, public_id, target)
        charge = _the_charge(payment)
        allocation = _allocation_for(charge, firm_id, target)
        claimed = db.session.execute(
            update(PaymentFlag)
            .where(PaymentFlag.id == flag.id, PaymentFlag.resolved_at.is_(None))
            .values(resolved_at=clock.now())
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            # Someone applied it first (or before this request): a repeat, or a conflict.
            db.session.rollback()
            return _repeat(firm_id, public_id, target)
        _apply(payment, charge, allocation)
        db.session.refresh(flag)
        applied = _applied_data(allocation, target)
        postings.enqueue_for_charge(charge, payloads.PAYMENT_APPLIED, extra={"applied": applied})
        audit.record(
            firm_id,
            actor,
            action="payment.apply",
            entity="payment",
            entity_id=payment.public_id,
            field="allocation",
            before=None,
            after=applied,
        )
    return Applied(public_id, is_replay=False)


def _payment(firm_id: int, public_id: str) -> Payment:
    payment = db.session.scalar(
        select(Payment).where(Payment.firm_id == firm_id, Payment.public_id == public_id)
    )
    if payment is None:
        raise NotFound("No payment of this firm has this id.")
    return payment


def _unmatched_flag(payment: Payment) -> PaymentFlag:
    flag = next((flag for flag in payment.flags if flag.code == UNMATCHED), None)
    if flag is None:
        raise ApplyRefused(
            "This payment is not an unmatched one: its money is already applied where the "
            "payer paid it. Refund it (whole or per allocation) to move it."
        )
    return flag


def _the_charge(payment: Payment) -> Charge:
    charge = payment.charges[0]
    if charge.status is not ChargeStatus.SUCCEEDED:
        raise ApplyRefused(
            f"The payment's charge is {charge.status.value}: only money that has arrived can "
            "be applied. Wait until it succeeds."
        )
    return charge


def _allocation_for(charge: Charge, firm_id: int, target: Target) -> Allocation:
    """The allocation to add, once routing and the amount have been checked."""
    amount = charge.unapplied_minor
    shown = _shown(amount, charge.currency)
    if target.invoice is not None:
        invoice = db.session.scalar(
            select(Invoice).where(Invoice.firm_id == firm_id, Invoice.external_id == target.invoice)
        )
        if invoice is None:
            raise NotFound("No invoice of this firm has this external id.")
        if charge.account_kind is not MerchantAccountKind.OPERATING:
            raise WrongAccount(
                f"This payment of {shown} was charged to the trust account, and trust money "
                "cannot pay an invoice here. Apply it to a matter's trust, or refund it and "
                "ask the client to pay the invoice into the operating account."
            )
        if invoice.currency != charge.currency:
            raise ApplyRefused(
                f"The invoice is in {invoice.currency} and the payment in {charge.currency}."
            )
        return Allocation(
            firm_id=firm_id,
            kind=AllocationKind.INVOICE,
            invoice_id=invoice.id,
            matter_id=invoice.matter_id,
            amount_minor=amount,
            refunded_minor=0,
        )
    matter = db.session.scalar(
        select(Matter).where(Matter.firm_id == firm_id, Matter.external_id == target.matter)
    )
    if matter is None:
        raise NotFound("No matter of this firm has this external id.")
    if charge.account_kind is not MerchantAccountKind.TRUST:
        raise WrongAccount(
            f"This payment of {shown} was charged to the operating account: the firm's own "
            "money cannot become client money in trust. Apply it to an invoice, or refund it "
            "and ask the client to pay the deposit into the trust account."
        )
    return Allocation(
        firm_id=firm_id,
        kind=AllocationKind.TRUST_DEPOSIT,
        matter_id=matter.id,
        amount_minor=amount,
        refunded_minor=0,
    )


def _apply(payment: Payment, charge: Charge, allocation: Allocation) -> None:
    """The money moves: lower the invoice's balance, or append the trust deposit."""
    if allocation.invoice_id is not None:
        # Hold, then pay: the hold is one conditional UPDATE, so two payments applied to one
        # invoice at once can never take it below zero.
        if not balances.reserve(allocation.invoice_id, allocation.amount_minor):
            invoice = db.session.get(Invoice, allocation.invoice_id, populate_existing=True)
            due = 0 if invoice is None else invoice.balance_due_minor - invoice.reserved_minor
            raise ExceedsDue(
                f"The payment is {_shown(allocation.amount_minor, charge.currency)} and "
                f"{_shown(max(due, 0), charge.currency)} is due on the invoice (or it is not "
                "open). Apply it to an invoice with enough due, or refund it and ask the "
                "client to pay what is due."
            )
        balances.pay(
            allocation.invoice_id, allocation.amount_minor, released_minor=allocation.amount_minor
        )
    charge.allocations.append(allocation)
    db.session.flush()
    if allocation.kind is AllocationKind.TRUST_DEPOSIT:
        append_trust(charge, allocation.matter_id, allocation.amount_minor, "Deposit applied")
    if payment.client_id is None:
        payment.client_id = db.session.scalar(
            select(Matter.client_id).where(Matter.id == allocation.matter_id)
        )
    db.session.flush()


def _shown(amount_minor: int, currency: str) -> str:
    """An amount for the API's English messages."""
    return format_money(amount_minor, currency)


def _applied_data(allocation: Allocation, target: Target) -> dict[str, Any]:
    """What the posting and the audit event say was applied, by the back office's ids."""
    return {
        "to": "invoice" if target.invoice is not None else "trust",
        "invoice": target.invoice,
        "matter": target.matter
        or db.session.scalar(select(Matter.external_id).where(Matter.id == allocation.matter_id)),
        "amount_minor": allocation.amount_minor,
    }


def _repeat(firm_id: int, public_id: str, target: Target) -> Applied:
    """The flag was already resolved: the same request again, or someone else's."""
    payment = _payment(firm_id, public_id)
    lines = [line for charge in payment.charges for line in charge.allocations]
    for line in lines:
        if target.invoice is not None and line.invoice_id is not None:
            external = db.session.scalar(
                select(Invoice.external_id).where(Invoice.id == line.invoice_id)
            )
            if external == target.invoice:
                return Applied(public_id, is_replay=True)
        if target.matter is not None and line.kind is AllocationKind.TRUST_DEPOSIT:
            external = db.session.scalar(
                select(Matter.external_id).where(Matter.id == line.matter_id)
            )
            if external == target.matter:
                return Applied(public_id, is_replay=True)
    raise AlreadyApplied(
        "This payment has already been applied elsewhere. To move it, refund it and ask the "
        "client to pay again."
    )
