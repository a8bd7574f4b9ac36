"""What trust requests tell the firm's back office: `trust_request.paid`, built and queued here.

The body comes from the rows this feature owns (and the matter and client it names); the
outbox (`portal.postings.outbox.enqueue`) only wraps and sends it. Nothing here commits.
"""

from __future__ import annotations

from typing import Any, Protocol

from portal.billing.models import Client, Matter
from portal.db import db
from portal.postings import outbox, payloads
from portal.postings.models import OutboundMessage
from portal.trust_requests.models import TrustRequest


class _HasPublicId(Protocol):
    @property
    def public_id(self) -> str: ...


class PayingCharge(Protocol):
    """The charge whose move paid a request: what the posting names of it (a payments Charge)."""

    @property
    def id(self) -> int: ...
    @property
    def public_id(self) -> str: ...
    @property
    def payment_id(self) -> int: ...
    @property
    def payment(self) -> _HasPublicId: ...


def trust_request_data(request: TrustRequest, charge: PayingCharge | None) -> dict[str, Any]:
    """A trust request paid in full: what was asked, what was paid, and the payment that did it."""
    matter = db.session.get(Matter, request.matter_id)
    client = db.session.get(Client, matter.client_id) if matter else None
    return {
        "trust_request": {
            "id": request.public_id,
            "kind": request.kind.value,
            "memo": request.memo,
            "source": request.source.value,
            "status": request.status.value,
            "currency": request.currency,
            "amount_minor": request.amount_minor,
            "paid_minor": request.paid_minor,
            "due_on": payloads.iso_date(request.due_on),
            "paid_at": None if request.paid_at is None else payloads.iso_instant(request.paid_at),
        },
        "client": {"external_id": client.external_id if client else None},
        "matter": {
            "external_id": matter.external_id if matter else None,
            "number": matter.number if matter else None,
        },
        "payment_id": charge.payment.public_id if charge is not None else None,
        "charge_id": charge.public_id if charge is not None else None,
    }


def enqueue_trust_request_paid(
    request: TrustRequest, *, charge: PayingCharge | None
) -> OutboundMessage:
    """Tell the back office a trust request was paid in full (never commits).

    `charge` is the one whose move completed it; the message then takes the next number in
    that payment's sequence, after the payment's own posting. Not held for firms that post
    by hand: it books nothing, the payment's posting does.
    """
    return outbox.enqueue(
        firm_id=request.firm_id,
        event_type=payloads.TRUST_REQUEST_PAID,
        data=trust_request_data(request, charge),
        payment_id=charge.payment_id if charge is not None else None,
        charge_id=charge.id if charge is not None else None,
    )
