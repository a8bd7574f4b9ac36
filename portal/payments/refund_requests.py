"""Refunds asked for by the firm (the API, the console) under the caller's idempotency key:
the same key again returns the first request's refunds and refunds nothing more; the same key
with another payment or other lines is a Conflict. `refund_by_key` commits through
`portal.payments.refunds.refund_payment`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from portal.errors import Conflict, ValidationFailed
from portal.payments import queries as payment_queries
from portal.payments.models import Refund
from portal.payments.queries import PaymentView
from portal.payments.refunds import RefundLine, refund_payment


class IdempotencyKeyReused(Conflict):
    """An Idempotency-Key came back with a different request."""

    code = "idempotency-key-reused"
    title = "This Idempotency-Key was used for a different request"


@dataclass(frozen=True)
class RefundOutcome:
    """The refunds a request made (or made the first time) and the payment afterwards."""

    refunds: list[Refund]
    payment: PaymentView
    #: True when the key had been used before and nothing new was refunded.
    is_replay: bool


def refund_key(idempotency_key: str) -> str:
    """The key the refunds of one API request are stored under.

    The payments service stores each refund as "<key>#<n>" in a 100-character column and finds
    a request's refunds by that prefix. The caller's key (up to 100 characters, any printable
    ASCII) is therefore turned into a fixed-length digest: it always fits, and no key can be a
    prefix of another's refunds ("a" of "a#0").
    """
    return "api:" + hashlib.sha256(idempotency_key.encode()).hexdigest()


def refund_by_key(
    *,
    firm_id: int,
    public_id: str,
    lines: Sequence[RefundLine] | None,
    idempotency_key: str,
    reason: str,
) -> RefundOutcome:
    """Refund the firm's payment `public_id`: `lines`, or everything left when None (commits).

    The same key again returns the first request's refunds and refunds nothing more; the same
    key with another payment or other lines is a Conflict. NotFound for another firm's payment.
    """
    key = refund_key(idempotency_key)
    view = payment_queries.payment_for_firm(firm_id, public_id)
    if earlier := payment_queries.refunds_by_key(firm_id, key):
        _check_replay(view, earlier, lines)
        return RefundOutcome(earlier, view, is_replay=True)
    wanted = list(lines) if lines is not None else _everything_left(view)
    try:
        refunds = refund_payment(
            firm_id=firm_id,
            payment_public_id=public_id,
            lines=wanted or None,
            idempotency_key=key,
            reason=reason,
        )
    except ValidationFailed as exc:
        if lines is None:
            raise _about_allocations(exc, wanted) from None
        raise
    return RefundOutcome(refunds, payment_queries.payment_for_firm(firm_id, public_id), False)


def _everything_left(view: PaymentView) -> list[RefundLine]:
    return [
        RefundLine(line.id, line.amount_minor - line.refunded_minor)
        for charge in view.payment.charges
        for line in charge.allocations
        if line.amount_minor > line.refunded_minor
    ]


def _check_replay(
    view: PaymentView, earlier: list[Refund], lines: Sequence[RefundLine] | None
) -> None:
    charges = {charge.id for charge in view.payment.charges}
    if any(refund.charge_id not in charges for refund in earlier):
        raise IdempotencyKeyReused(
            "This Idempotency-Key already refunded another payment; use a new key."
        )
    if lines is not None:
        asked = sorted((line.allocation_id, line.amount_minor) for line in lines)
        made = sorted((refund.allocation_id, refund.amount_minor) for refund in earlier)
        if asked != made:
            raise IdempotencyKeyReused(
                "This Idempotency-Key already refunded other amounts; use a new key."
            )


def _about_allocations(exc: ValidationFailed, wanted: list[RefundLine]) -> ValidationFailed:
    """Re-point a refused full refund's problems: its lines were not in the body, so each
    problem names its allocation instead of pointing at a list the caller never sent."""
    errors = []
    for error in exc.errors:
        parts = str(error.get("pointer", "")).split("/")
        detail = error.get("detail", "")
        if len(parts) > 2 and parts[1] == "allocations" and parts[2].isdigit():
            index = int(parts[2])
            if index < len(wanted):
                detail = f"allocation {wanted[index].allocation_id}: {detail}"
        errors.append({"pointer": "", "detail": detail})
    return ValidationFailed(exc.detail, errors=errors)
