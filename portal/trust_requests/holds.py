"""What a client may still pay on a trust request, and following the payments that pay it.

Trust requests never read payments' rows. The payments side tells them what happens to money
through one call per move, inside its own transaction (never committed here):

- starting a payment: `hold(request_id, amount_minor)` checks, with the request's row locked
  until commit, that the amount is still payable, and reserves it (`reserved_minor`), so two
  tabs can never pay more than was asked between them;
- any charge paying a request moving (paid, failed, refunded, returned...):
  `recompute(request_ids, totals=..., charge=...)` locks the requests, asks the payments side
  for its totals of settled and in-flight allocations naming them, and sets the paid and
  reserved amounts and the status from those. A payment that fails, is refunded or returned
  thus takes its part back by itself.

What a client may pay now (`payable_minor`) is the amount less what is paid and reserved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from portal import clock
from portal.db import db
from portal.errors import AllocationError, ValidationProblem
from portal.firms.services import firm_by_id, firm_today
from portal.links import services as links
from portal.links.models import Link
from portal.trust_requests import postings
from portal.trust_requests.models import (
    PAYABLE,
    TrustRequest,
    TrustRequestKind,
    TrustRequestStatus,
)

St = TrustRequestStatus


@dataclass(frozen=True)
class PayableRequest:
    """An open request as a client may pay it now."""

    id: int
    public_id: str
    matter_id: int
    kind: TrustRequestKind
    currency: str
    amount_minor: int
    paid_minor: int
    due_on: dt.date | None
    memo: str
    #: What is left once settled and in-flight payments are counted.
    payable_minor: int
    #: Payments on their way (bank debits processing).
    processing_minor: int
    #: Due before the firm's today (in its time zone) and still open.
    is_overdue: bool = False


def payable_for_matters(firm_id: int, matter_ids: Sequence[int]) -> list[PayableRequest]:
    """The open requests on these matters, due soonest first (undated last), in one query."""
    if not matter_ids:
        return []
    requests = db.session.scalars(
        select(TrustRequest)
        .where(
            TrustRequest.firm_id == firm_id,
            TrustRequest.matter_id.in_(matter_ids),
            TrustRequest.status.in_(sorted(PAYABLE)),
        )
        .order_by(TrustRequest.due_on.asc().nulls_last(), TrustRequest.id)
    )
    today = firm_today(firm_by_id(firm_id))
    return [
        PayableRequest(
            id=request.id,
            public_id=request.public_id,
            matter_id=request.matter_id,
            kind=request.kind,
            currency=request.currency,
            amount_minor=request.amount_minor,
            paid_minor=request.paid_minor,
            due_on=request.due_on,
            memo=request.memo,
            payable_minor=max(
                request.amount_minor - request.paid_minor - request.reserved_minor, 0
            ),
            processing_minor=request.reserved_minor,
            is_overdue=request.due_on is not None and request.due_on < today,
        )
        for request in requests
    ]


def payable_for_link(link: Link) -> list[PayableRequest]:
    """The open requests on the matters `link` may see."""
    return payable_for_matters(link.firm_id, links.visible_matter_ids(link))


def _locked(request_id: int) -> TrustRequest | None:
    """The request, re-read and locked until commit (FOR UPDATE on PostgreSQL; SQLite
    serialises writers anyway)."""
    return db.session.get(TrustRequest, request_id, with_for_update=True, populate_existing=True)


def hold(request_id: int, amount_minor: int) -> None:
    """Reserve `amount_minor` of the request for a payment being started (not committed).

    Called while a payment's rows are written: the lock makes a second payment on the same
    request wait for the first to commit and then count its reservation. AllocationError when
    the amount is no longer payable (paid, reserved by another payment, or canceled).
    """
    request = _locked(request_id)
    left = 0
    if request is not None and request.status in PAYABLE:
        left = request.amount_minor - request.paid_minor - request.reserved_minor
    if request is None or amount_minor > left:
        raise AllocationError(
            "A trust request was paid or changed while you were paying it.",
            errors=[
                ValidationProblem(
                    "request_changed",
                    f"request-{request_id}",
                    "This trust request was just paid or changed. Please review and try again.",
                )
            ],
        )
    request.reserved_minor += amount_minor
    db.session.flush()


@dataclass(frozen=True, slots=True)
class Held:
    """What the payments side holds on one request: settled (less refunds) and in flight."""

    paid_minor: int = 0
    in_flight_minor: int = 0


#: The payments side's totals for some requests, by request id (a missing id holds nothing).
Totals = Callable[[Sequence[int]], Mapping[int, Held]]


def recompute(request_ids: Sequence[int], *, totals: Totals, charge: Any = None) -> None:
    """Set each request's paid and reserved amounts from `totals`, and its status from them
    (not committed).

    The requests are locked first and `totals` is asked after, so it counts every payment
    committed before ours. A request that becomes paid queues a `trust_request.paid` posting
    (after the payment's own posting, in the same transaction); `charge` is the payments side's
    charge whose move this is, handed on to the posting. A canceled request keeps its status.
    """
    ids = sorted(set(request_ids))
    requests = [request for request_id in ids if (request := _locked(request_id)) is not None]
    held = totals([request.id for request in requests])
    for request in requests:
        now_held = held.get(request.id, Held())
        request.paid_minor = now_held.paid_minor
        request.reserved_minor = now_held.in_flight_minor
        if request.status is St.CANCELED:
            db.session.flush()
            continue
        before = request.status
        if request.paid_minor >= request.amount_minor:
            request.status = St.PAID
            request.paid_at = request.paid_at or clock.now()
        else:
            request.status = St.PARTIALLY_PAID if request.paid_minor > 0 else St.OPEN
            request.paid_at = None
        db.session.flush()
        if request.status is St.PAID and before is not St.PAID:
            postings.enqueue_trust_request_paid(request, charge=charge)
