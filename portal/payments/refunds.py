"""Refunds: giving back part or all of a payment's allocations.

Commits: `refund_payment` is the use case and owns the transaction. It records the refunds
under the request's idempotency key and commits before the processor hears of them; then, for
each refund, it calls the gateway with no transaction open, records the answer (lowering what
the allocation holds, reopening the invoice through billing or appending the trust reversal
through the ledger, then taking the events the gateway handed back) and commits again. When
any went through, it queues one refund email to the payer and commits that too.
Nothing else here commits.

Concurrency: two refunds of one payment, or of two payments into one matter's trust, may
arrive at the same moment under different keys. Each request locks the payment's charges and
the matters whose trust it takes from (SELECT ... FOR UPDATE; SQLite serialises writers with
BEGIN IMMEDIATE) before it validates, and validates against what is already refunded *and*
what other requests have recorded but the processor has not yet answered ("pending"
refunds, committed before the gateway call precisely so the next request sees them).
Recording an answer takes the same locks again and raises the counters in SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError

from portal import clock, gateways
from portal.billing import balances
from portal.db import db
from portal.errors import NotFound, ValidationFailed
from portal.gateways.base import RefundResult
from portal.ids import new_public_id
from portal.ledger import descriptions
from portal.ledger import services as ledger
from portal.payments import receipt_emails
from portal.payments.events import take_gateway_events
from portal.payments.models import (
    NOT_REFUNDING,
    REFUND_STATES,
    Allocation,
    AllocationKind,
    Charge,
    ChargeStatus,
    Payment,
    Refund,
)
from portal.payments.transitions import append_trust, transition

S = ChargeStatus
log = logging.getLogger(__name__)


def _public_id() -> str:
    return new_public_id(12)


@dataclass(frozen=True)
class RefundLine:
    allocation_id: int
    amount_minor: int


def _existing(firm_id: int, idempotency_key: str) -> list[Refund]:
    return list(
        db.session.scalars(
            select(Refund)
            .where(
                Refund.firm_id == firm_id,
                Refund.idempotency_key.startswith(f"{idempotency_key}#", autoescape=True),
            )
            .order_by(Refund.id)
        )
    )


def _lock_charges(payment_id: int) -> list[Charge]:
    """The payment's charges and their allocations, locked and read fresh (in id order)."""
    charges = list(
        db.session.scalars(
            select(Charge)
            .where(Charge.payment_id == payment_id)
            .order_by(Charge.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    if charges:
        db.session.scalars(
            select(Allocation)
            .where(Allocation.charge_id.in_([charge.id for charge in charges]))
            .execution_options(populate_existing=True)
        ).all()
    return charges


def _in_flight(where: ColumnElement[bool]) -> dict[int, int]:
    """Amounts of recorded refunds the processor has not answered yet, by allocation id."""
    rows = db.session.execute(
        select(Refund.allocation_id, func.sum(Refund.amount_minor))
        .join(Allocation, Allocation.id == Refund.allocation_id)
        .where(where, Refund.status != "succeeded", Refund.status.not_in(NOT_REFUNDING))
        .group_by(Refund.allocation_id)
    )
    return {allocation_id: int(total) for allocation_id, total in rows}


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
    matter's or client's money. The same idempotency key returns the first refunds. Refunds
    racing under different keys are serialised (see the module's docstring).
    """
    if existing := _existing(firm_id, idempotency_key):
        return existing
    payment = db.session.scalar(
        select(Payment).where(Payment.firm_id == firm_id, Payment.public_id == payment_public_id)
    )
    if payment is None:
        raise NotFound("no such payment")
    charges = _lock_charges(payment.id)
    by_id = {line.id: (charge, line) for charge in charges for line in charge.allocations}
    trust_matters = {
        line.matter_id
        for _charge, line in by_id.values()
        if line.kind is AllocationKind.TRUST_DEPOSIT
    }
    ledger.hold_trust(trust_matters)
    # Under the locks: the same key may have been recorded by a request we waited for.
    if existing := _existing(firm_id, idempotency_key):
        return existing
    pending = _in_flight(Allocation.charge_id.in_([charge.id for charge in charges]))
    trust_left = ledger.trust_balances(trust_matters)
    for matter_id, taken in _in_flight_trust(trust_matters).items():
        trust_left[matter_id] -= taken

    def left_on(line: Allocation) -> int:
        return line.amount_minor - line.refunded_minor - pending.get(line.id, 0)

    wanted = lines or [
        RefundLine(line.id, left_on(line)) for _charge, line in by_id.values() if left_on(line) > 0
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
        elif not 0 < item.amount_minor <= left_on(line):
            errors.append(
                {
                    "pointer": f"/allocations/{n}/amount",
                    "detail": "must be above zero and at most what is left to refund "
                    "on this allocation",
                }
            )
        elif (
            line.kind is AllocationKind.TRUST_DEPOSIT
            and item.amount_minor > trust_left[line.matter_id]
        ):
            errors.append(
                {
                    "pointer": f"/allocations/{n}/amount",
                    "detail": "more than the matter's trust balance; "
                    "a trust refund cannot take other clients' money",
                }
            )
        else:
            # Two lines of one request count against the same allocation and trust balance.
            pending[line.id] = pending.get(line.id, 0) + item.amount_minor
            if line.kind is AllocationKind.TRUST_DEPOSIT:
                trust_left[line.matter_id] -= item.amount_minor
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
                    status="pending",
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
    # The refunds are on record, as pending, before the processor hears of them: a request
    # racing this one counts them from now on.
    db.session.commit()

    for refund in refunds:
        charge, line = by_id[refund.allocation_id]
        try:
            result = ask_processor(charge, refund)
        except Exception:
            # No answer (the processor is down, the network dropped it): the refund stays
            # pending, its amount held, and `settle_pending_refunds` asks again under the same
            # idempotency key, so it is made once whatever happened on the other side.
            log.exception(
                "refund %s: the processor did not answer; retried later", refund.public_id
            )
            db.session.rollback()
            continue
        record_refund_result(refund, result, reason=reason)
        db.session.commit()
    given_back = sum(refund.amount_minor for refund in refunds if refund.status == "succeeded")
    if given_back:
        # One email for the whole request, once the processor has answered every refund in
        # it, with the receipt as it now stands (partly or wholly refunded).
        db.session.refresh(payment)
        receipt_emails.queue_receipt_email(payment, "refund", refunded_minor=given_back)
        db.session.commit()
    return refunds


def ask_processor(charge: Charge, refund: Refund) -> RefundResult:
    """Make `refund` at the processor, or (when it has a reference) ask where it stands.

    The idempotency key is the refund's own, so asking again never refunds twice.
    """
    gateway = gateways.for_account(charge.merchant_account)
    if refund.gateway_ref:
        return gateway.fetch_refund(refund.gateway_ref)
    return gateway.refund(
        charge.gateway_ref or "",
        refund.amount_minor,
        idempotency_key=f"refund:{refund.public_id}",
    )


def _in_flight_trust(matter_ids: set[int]) -> dict[int, int]:
    """Pending refunds of trust deposits into these matters, from any payment, by matter."""
    if not matter_ids:
        return {}
    rows = db.session.execute(
        select(Allocation.matter_id, func.sum(Refund.amount_minor))
        .join(Allocation, Allocation.id == Refund.allocation_id)
        .where(
            Allocation.matter_id.in_(sorted(matter_ids)),
            Allocation.kind == AllocationKind.TRUST_DEPOSIT,
            Refund.status != "succeeded",
            Refund.status.not_in(NOT_REFUNDING),
        )
        .group_by(Allocation.matter_id)
    )
    return {matter_id: int(total) for matter_id, total in rows}


def record_refund_result(refund: Refund, result: RefundResult, *, reason: str) -> bool:
    """Apply the processor's answer to one pending refund, then the events it handed back.

    Locks the refund first and applies nothing unless it is still pending: the request that
    made it and a later retry (`settle_pending_refunds`) may both hear the answer, and only
    the first may count it. Then takes the charge's and the matter's locks again, and raises
    the refunded counters in SQL so no concurrent answer's increment is lost. Returns whether
    the refund's state changed. Not committed.
    """
    db.session.refresh(refund, with_for_update=True)
    if refund.status != "pending":
        return False
    charge_id, allocation_id = refund.charge_id, refund.allocation_id
    refund.gateway_ref = result.gateway_ref or refund.gateway_ref
    refund.status = result.status if result.status in REFUND_STATES else "pending"
    if refund.status != "succeeded":
        return refund.status != "pending"
    charge = db.session.get(Charge, charge_id, with_for_update=True, populate_existing=True)
    line = db.session.get(Allocation, allocation_id, populate_existing=True)
    if charge is None or line is None:  # pragma: no cover - rows are never deleted
        raise NotFound("the refunded charge is gone")
    if line.kind is AllocationKind.TRUST_DEPOSIT:
        ledger.hold_trust([line.matter_id])
    db.session.execute(
        update(Allocation)
        .where(Allocation.id == allocation_id)
        .values(refunded_minor=Allocation.refunded_minor + refund.amount_minor)
    )
    db.session.execute(
        update(Charge)
        .where(Charge.id == charge_id)
        .values(refunded_minor=Charge.refunded_minor + refund.amount_minor)
    )
    db.session.refresh(line, ["refunded_minor"])
    db.session.refresh(charge, ["refunded_minor"])
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
        append_trust(charge, line.matter_id, -refund.amount_minor, descriptions.REFUND)
    take_gateway_events(charge.merchant_account, result.events)
    return True
