"""Units of work the API composes from several features: issuing and revoking client links by
external id, refunding a payment under the caller's idempotency key, and noting when an API key
was last used. Each one commits, so views never do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from portal import clock
from portal.billing import services as billing
from portal.db import db
from portal.errors import Conflict, ValidationFailed
from portal.firms import services as firms
from portal.firms.models import APIKey, Firm
from portal.links import sending
from portal.links import services as links
from portal.links.models import DeliveryOrigin, Link
from portal.payments import queries as payment_queries
from portal.payments import services as payments
from portal.payments.models import Refund
from portal.payments.queries import PaymentView

#: `APIKey.last_used_at` is kept to this resolution, so busy keys do not write on every request.
KEY_USE_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class SendRequest:
    """Email the new link: to `email` (else the client's address on file), with `message`."""

    email: str | None = None
    message: str | None = None


def create_link(
    *,
    firm_id: int,
    client: str,
    matters: Sequence[str],
    expires_in: int | None,
    send: SendRequest | None = None,
    ar_note: str | None = None,
) -> Link:
    """Issue a link for the firm's client `client`, limited to `matters` if any (commits).

    With `send`, the link and its delivery record commit together, then the email goes to the
    mail server and its answer is recorded: a refused email still leaves a working link.
    """
    owner = billing.referenced_client(firm_id=firm_id, external_id=client, pointer="/client")
    scope = billing.referenced_matters(client=owner, external_ids=matters, pointer="/matters")
    to = sending.recipient_for(owner.email, send.email) if send is not None else None
    with db.transaction():
        link = links.issue_link(
            firm_id=firm_id, client=owner, matters=scope, expires_in=expires_in, ar_note=ar_note
        )
        queued = None
        if send is not None and to is not None:
            queued = sending.queue_link_email(
                link, to=to, message=send.message, origin=DeliveryOrigin.API
            )
    if queued is not None:
        sending.hand_over(queued)
    return link


def update_firm(firm_id: int, changes: Mapping[str, str | None]) -> Firm:
    """Set the firm's email message and signature from `changes` (commits).

    Only the names given change; None or blank text clears a setting.
    """
    firm = firms.firm_by_id(firm_id)
    with db.transaction():
        for name in ("email_message", "email_signature"):
            if name in changes:
                setattr(firm, name, (changes[name] or "").strip() or None)
    return firm


def revoke_link(*, firm_id: int, public_id: str) -> Link:
    """Revoke the firm's link now; revoking it again keeps the first time (commits)."""
    link = links.link_for_firm(firm_id, public_id)
    if link.revoked_at is None:
        with db.transaction():
            links.revoke_link(link)
    return link


def record_key_use(api_key: APIKey) -> None:
    """Note that `api_key` was used, unless that was already noted within the last minute."""
    now = clock.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < KEY_USE_RESOLUTION:
        return
    # End the read transaction before writing. A SQLite transaction that has already read
    # cannot queue for the write lock (it fails at once with "database is locked"), while one
    # whose first statement writes waits on busy_timeout like any other writer.
    db.session.commit()
    api_key.last_used_at = now
    db.session.commit()


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


def refund_payment(
    *,
    firm_id: int,
    public_id: str,
    lines: Sequence[payments.RefundLine] | None,
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
        refunds = payments.refund_payment(
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


def _everything_left(view: PaymentView) -> list[payments.RefundLine]:
    return [
        payments.RefundLine(line.id, line.amount_minor - line.refunded_minor)
        for charge in view.payment.charges
        for line in charge.allocations
        if line.amount_minor > line.refunded_minor
    ]


def _check_replay(
    view: PaymentView, earlier: list[Refund], lines: Sequence[payments.RefundLine] | None
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


def _about_allocations(
    exc: ValidationFailed, wanted: list[payments.RefundLine]
) -> ValidationFailed:
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
