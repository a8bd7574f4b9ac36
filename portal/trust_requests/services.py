"""Trust requests, as the firm's API uses them: create, list, read, cancel and resend them, the
firm's evergreen mode, and the unpaid report. Each use case here commits once; what it calls
never does.

Elsewhere in this package: what a client may pay and how requests follow the payments that pay
them (`holds`), emailing a request (`emails`), and evergreen top-ups after a sync (`evergreen`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import clock
from portal.audit.services import Actor
from portal.billing.models import Client, Matter
from portal.db import db
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.firms.models import EvergreenMode, Firm, MerchantAccount, MerchantAccountKind
from portal.firms.services import firm_by_id, firm_zone, record_firm_changes
from portal.trust_requests.emails import send_request_email
from portal.trust_requests.models import (
    PAYABLE,
    TrustRequest,
    TrustRequestKind,
    TrustRequestSource,
    TrustRequestStatus,
)

St = TrustRequestStatus


class RequestNotCancelable(Conflict):
    code = "trust-request-not-cancelable"
    title = "This trust request cannot be canceled"


class IdempotencyKeyReused(Conflict):
    code = "idempotency-key-reused"
    title = "This Idempotency-Key was used for a different request"


def key_digest(idempotency_key: str) -> str:
    """How a caller's Idempotency-Key is stored: a fixed-length digest of any key."""
    return "api:" + hashlib.sha256(idempotency_key.encode()).hexdigest()


def new_public_id() -> str:
    """A new request's random public reference."""
    return "tr_" + secrets.token_urlsafe(15)


# -- creating ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRequest:
    """A trust request as the back office asks for it."""

    matter: str  # the matter's external id
    amount_minor: int
    currency: str
    kind: TrustRequestKind
    due_on: dt.date | None = None
    memo: str = ""


def trust_currencies(firm_id: int) -> set[str]:
    """The currencies the firm has a trust merchant account in."""
    return set(
        db.session.scalars(
            select(MerchantAccount.currency).where(
                MerchantAccount.firm_id == firm_id,
                MerchantAccount.kind == MerchantAccountKind.TRUST,
            )
        )
    )


def _same(request: TrustRequest, matter_id: int, new: NewRequest) -> bool:
    return (
        request.matter_id == matter_id
        and request.amount_minor == new.amount_minor
        and request.currency == new.currency
        and request.kind is new.kind
        and request.due_on == new.due_on
        and request.memo == new.memo
    )


def create_request(
    *, firm_id: int, new: NewRequest, idempotency_key: str | None = None, send: bool = False
) -> tuple[TrustRequest, bool]:
    """Create a request on the firm's matter (commits); True when it is new.

    With `send`, a new request is emailed to the client with a 24-hour link (a replayed one
    is not emailed again).

    With an idempotency key, sending the same request again returns the first one (False);
    the same key with other content is a Conflict. Another firm's matter is NotFound; a
    currency other than the matter's trust currency, or one the firm has no trust account
    in, is refused (422).
    """
    digest = key_digest(idempotency_key) if idempotency_key else None
    matter = db.session.scalar(
        select(Matter).where(Matter.firm_id == firm_id, Matter.external_id == new.matter)
    )
    if matter is None:
        raise NotFound("no such matter")
    if digest is not None and (earlier := _by_key(firm_id, digest)) is not None:
        return _replay(earlier, matter.id, new), False
    problems = []
    if new.currency != matter.currency:
        problems.append(
            {
                "pointer": "/currency",
                "detail": f"must be the matter's trust currency ({matter.currency}), "
                f"not {new.currency}",
            }
        )
    elif new.currency not in trust_currencies(firm_id):
        problems.append(
            {
                "pointer": "/currency",
                "detail": f"the firm has no trust account in {new.currency}",
            }
        )
    if problems:
        raise ValidationFailed("The request cannot be made as sent.", errors=problems)
    request = TrustRequest(
        public_id=new_public_id(),
        firm_id=firm_id,
        matter_id=matter.id,
        kind=new.kind,
        status=St.OPEN,
        source=TrustRequestSource.API,
        amount_minor=new.amount_minor,
        currency=new.currency,
        paid_minor=0,
        due_on=new.due_on,
        memo=new.memo,
        idempotency_key=digest,
        created_at=clock.now(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(request)
            db.session.flush()
    except IntegrityError:
        # The same key arrived twice at once: the other request created it.
        earlier = _by_key(firm_id, digest) if digest is not None else None
        if earlier is None:
            raise
        return _replay(earlier, matter.id, new), False
    if send:
        send_request_email(request)
    db.session.commit()
    return request, True


def _by_key(firm_id: int, digest: str) -> TrustRequest | None:
    return db.session.scalar(
        select(TrustRequest).where(
            TrustRequest.firm_id == firm_id, TrustRequest.idempotency_key == digest
        )
    )


def _replay(earlier: TrustRequest, matter_id: int, new: NewRequest) -> TrustRequest:
    if not _same(earlier, matter_id, new):
        raise IdempotencyKeyReused(
            "This Idempotency-Key already created another trust request; use a new key."
        )
    return earlier


# -- reading -------------------------------------------------------------------------------


def request_for_firm(firm_id: int, public_id: str) -> TrustRequest:
    """The firm's request by public id; another firm's is NotFound."""
    request = db.session.scalar(
        select(TrustRequest).where(
            TrustRequest.firm_id == firm_id, TrustRequest.public_id == public_id
        )
    )
    if request is None:
        raise NotFound("no such trust request")
    return request


@dataclass(frozen=True)
class Filters:
    status: TrustRequestStatus | None = None
    matter: str | None = None
    kind: TrustRequestKind | None = None
    due_before: dt.date | None = None
    due_after: dt.date | None = None


@dataclass(frozen=True)
class Page:
    items: list[TrustRequest]
    last_id: int | None


def requests_page(*, firm_id: int, filters: Filters, after_id: int | None, limit: int) -> Page:
    """Oldest first, `limit` at a time after `after_id`; every filter given must hold."""
    query = select(TrustRequest).where(TrustRequest.firm_id == firm_id)
    if filters.status is not None:
        query = query.where(TrustRequest.status == filters.status)
    if filters.kind is not None:
        query = query.where(TrustRequest.kind == filters.kind)
    if filters.matter is not None:
        query = query.join(Matter, Matter.id == TrustRequest.matter_id).where(
            Matter.firm_id == firm_id, Matter.external_id == filters.matter
        )
    if filters.due_before is not None:
        query = query.where(TrustRequest.due_on < filters.due_before)
    if filters.due_after is not None:
        query = query.where(TrustRequest.due_on > filters.due_after)
    if after_id is not None:
        query = query.where(TrustRequest.id > after_id)
    rows = list(db.session.scalars(query.order_by(TrustRequest.id).limit(limit + 1)))
    more = len(rows) > limit
    items = rows[:limit]
    return Page(items=items, last_id=items[-1].id if more and items else None)


def matter_external_ids(requests: Iterable[TrustRequest]) -> dict[int, str]:
    """The external ids of the requests' matters, by matter id, in one query."""
    ids = {request.matter_id for request in requests}
    if not ids:
        return {}
    rows = db.session.execute(select(Matter.id, Matter.external_id).where(Matter.id.in_(ids)))
    return {matter_id: external_id for matter_id, external_id in rows}


# -- canceling -----------------------------------------------------------------------------


def cancel(*, firm_id: int, public_id: str) -> TrustRequest:
    """Cancel the firm's request (commits); canceling again answers with the first time.

    A paid request, or one with a payment still processing, cannot be canceled (Conflict).
    Money already paid on a partly paid request stays in trust.
    """
    request = request_for_firm(firm_id, public_id)
    if request.status is St.CANCELED:
        return request
    request = (
        db.session.get(TrustRequest, request.id, with_for_update=True, populate_existing=True)
        or request
    )
    if request.status is St.PAID:
        raise RequestNotCancelable("This trust request is paid; it cannot be canceled.")
    if request.reserved_minor > 0:
        raise RequestNotCancelable(
            "A payment on this trust request is still processing; cancel it once it has "
            "succeeded or failed."
        )
    request.status = St.CANCELED
    request.canceled_at = clock.now()
    db.session.commit()
    return request


class CannotSend(Conflict):
    code = "trust-request-not-sendable"
    title = "This trust request cannot be emailed"


def resend(*, firm_id: int, public_id: str) -> TrustRequest:
    """Email the firm's open request to its client again, with a fresh link (commits)."""
    request = request_for_firm(firm_id, public_id)
    if request.status not in PAYABLE:
        raise CannotSend(f"This trust request is {request.status.value.replace('_', ' ')}.")
    if not send_request_email(request):
        raise CannotSend("The client has no email address.")
    db.session.commit()
    return request


def set_evergreen_mode(
    firm_id: int, mode: EvergreenMode, *, actor: Actor, reason: str | None = None
) -> Firm:
    """Change the firm's evergreen mode, auditing the change with `reason` if given (commits)."""
    firm = db.session.get(Firm, firm_id)
    if firm is None:
        raise NotFound("no such firm")
    record_firm_changes(firm, {"evergreen_mode": mode}, actor, reason=reason)
    db.session.commit()
    return firm


# -- reports -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnpaidRow:
    request: TrustRequest
    matter: str
    matter_number: str
    client: str
    age_days: int
    is_overdue: bool


def unpaid_report(firm_id: int) -> list[UnpaidRow]:
    """Every open or partly paid request, oldest first, with its age in days."""
    firm = firm_by_id(firm_id)
    zone = firm_zone(firm)
    today = clock.today_in(zone)
    rows = db.session.execute(
        select(TrustRequest, Matter.external_id, Matter.number, Client.external_id)
        .join(Matter, Matter.id == TrustRequest.matter_id)
        .join(Client, Client.id == Matter.client_id)
        .where(TrustRequest.firm_id == firm_id, TrustRequest.status.in_(sorted(PAYABLE)))
        .order_by(TrustRequest.created_at, TrustRequest.id)
    ).all()
    return [
        UnpaidRow(
            request=request,
            matter=matter,
            matter_number=number,
            client=client,
            age_days=(today - clock.local_day(request.created_at, zone)).days,
            is_overdue=request.due_on is not None and request.due_on < today,
        )
        for request, matter, number, client in rows
    ]
