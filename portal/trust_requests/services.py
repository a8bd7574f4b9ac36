"""Trust requests: create, list, read and cancel them; what a client may still pay on them; their
paid amount recomputed from the payments that name them; evergreen replenishment after a sync.

What a request holds is never kept as a running counter. `recompute` sums the settled trust
deposit allocations that name it (less what was refunded from them) whenever one of their
charges moves, so a payment that fails, is refunded or returned takes its part back by itself.
What a client may pay now (`payable_minor`) is the amount less the settled and in-flight
allocations; starting a payment locks the request row and checks that again (`hold`), so two
tabs can never pay more than was asked between them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flask import current_app, render_template
from flask_babel import gettext
from sqlalchemy import BigInteger, Select, and_, cast, func, select
from sqlalchemy.exc import IntegrityError

from portal import clock
from portal.billing.models import Client, Matter
from portal.db import db
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.firms import branding
from portal.firms.models import EvergreenMode, Firm, MerchantAccount, MerchantAccountKind
from portal.ledger import services as ledger
from portal.links import services as links
from portal.links.models import Link
from portal.mail import compose, send_after_commit
from portal.money import Money
from portal.payments.allocation import AllocationError
from portal.payments.models import IN_FLIGHT, SETTLED, Allocation, Charge
from portal.templating import locale_scope
from portal.trust_requests import postings
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


def _public_id() -> str:
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


def _trust_currencies(firm_id: int) -> set[str]:
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
    elif new.currency not in _trust_currencies(firm_id):
        problems.append(
            {
                "pointer": "/currency",
                "detail": f"the firm has no trust account in {new.currency}",
            }
        )
    if problems:
        raise ValidationFailed("The request cannot be made as sent.", errors=problems)
    request = TrustRequest(
        public_id=_public_id(),
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


# -- what may be paid ----------------------------------------------------------------------


def _held_by(request_ids: Sequence[int], statuses: Iterable[object]) -> Select[tuple[int, int]]:
    return (
        select(
            Allocation.trust_request_id,
            cast(func.sum(Allocation.amount_minor - Allocation.refunded_minor), BigInteger),
        )
        .join(Charge, Charge.id == Allocation.charge_id)
        .where(Allocation.trust_request_id.in_(request_ids), Charge.status.in_(list(statuses)))
        .group_by(Allocation.trust_request_id)
    )


def in_flight_minor(request_ids: Sequence[int]) -> dict[int, int]:
    """What charges still in flight hold on each request."""
    if not request_ids:
        return {}
    rows = db.session.execute(_held_by(request_ids, sorted(IN_FLIGHT))).all()
    return {request_id: int(amount or 0) for request_id, amount in rows}


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

    @property
    def is_overdue(self) -> bool:
        return self.due_on is not None and self.due_on < clock.today()


def payable_for_matters(firm_id: int, matter_ids: Sequence[int]) -> list[PayableRequest]:
    """The open requests on these matters, due soonest first (undated last), in two queries."""
    if not matter_ids:
        return []
    requests = list(
        db.session.scalars(
            select(TrustRequest)
            .where(
                TrustRequest.firm_id == firm_id,
                TrustRequest.matter_id.in_(matter_ids),
                TrustRequest.status.in_(sorted(PAYABLE)),
            )
            .order_by(TrustRequest.due_on.asc().nulls_last(), TrustRequest.id)
        )
    )
    pending = in_flight_minor([request.id for request in requests])
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
                request.amount_minor - request.paid_minor - pending.get(request.id, 0), 0
            ),
            processing_minor=pending.get(request.id, 0),
        )
        for request in requests
    ]


def payable_for_link(link: Link) -> list[PayableRequest]:
    """The open requests on the matters `link` may see."""
    return payable_for_matters(link.firm_id, links.visible_matter_ids(link))


def hold(request_id: int, amount_minor: int) -> None:
    """Check, with the request locked until commit, that `amount_minor` may still be paid.

    Called while a payment's rows are written (before this payment's own allocations exist):
    the lock makes a second payment on the same request wait for the first to commit and then
    count it (FOR UPDATE on PostgreSQL; SQLite serialises writers anyway).
    """
    request = db.session.get(TrustRequest, request_id, with_for_update=True, populate_existing=True)
    left = 0
    if request is not None and request.status in PAYABLE:
        held = in_flight_minor([request_id]).get(request_id, 0)
        settled = _settled_minor([request_id]).get(request_id, 0)
        left = request.amount_minor - settled - held
    if amount_minor > left:
        raise AllocationError(
            gettext("A trust request was paid or changed while you were paying it."),
            errors=[
                {
                    "field": f"request-{request_id}",
                    "detail": gettext(
                        "This trust request was just paid or changed. Please review and try again."
                    ),
                }
            ],
        )


# -- following payments --------------------------------------------------------------------


def _settled_minor(request_ids: Sequence[int]) -> dict[int, int]:
    rows = db.session.execute(_held_by(request_ids, sorted(SETTLED))).all()
    return {request_id: int(amount or 0) for request_id, amount in rows}


def recompute_for_charge(charge: Charge) -> None:
    """Bring the requests `charge` pays up to date after it moved (not committed)."""
    ids = sorted({line.trust_request_id for line in charge.allocations if line.trust_request_id})
    if ids:
        recompute(ids, charge=charge)


def recompute(request_ids: Sequence[int], *, charge: Charge | None = None) -> None:
    """Set each request's paid amount from its settled allocations, and its status from that.

    A request that becomes paid queues a `trust_request.paid` posting (after the payment's
    own posting, in the same transaction). A canceled request keeps its status.
    """
    settled = _settled_minor(request_ids)
    for request_id in request_ids:
        request = db.session.get(
            TrustRequest, request_id, with_for_update=True, populate_existing=True
        )
        if request is None:
            continue
        request.paid_minor = settled.get(request_id, 0)
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
    if in_flight_minor([request.id]):
        raise RequestNotCancelable(
            "A payment on this trust request is still processing; cancel it once it has "
            "succeeded or failed."
        )
    request.status = St.CANCELED
    request.canceled_at = clock.now()
    db.session.commit()
    return request


# -- email ---------------------------------------------------------------------------------


def send_request_email(request: TrustRequest) -> bool:
    """Email the client a 24-hour link to the request's matter, in their language.

    Sent once the current transaction commits; False (nothing queued) when the client has no
    email address.
    """
    matter = db.session.get(Matter, request.matter_id)
    client = db.session.get(Client, matter.client_id) if matter else None
    if matter is None or client is None or not client.email:
        return False
    firm = db.session.get(Firm, request.firm_id)
    link = links.issue_link(firm_id=request.firm_id, client=client, matters=[matter])
    context = {
        "request": request,
        "matter": matter,
        "client": client,
        "firm_name": firm.name if firm else "",
        "amount": Money(request.amount_minor, request.currency),
        "remaining": Money(request.remaining_minor, request.currency),
        "url": links.url_for_link(link),
        "hours": int(current_app.config["LINK_MAX_AGE_SECONDS"]) // 3600,
        "logo_url": branding.email_logo_url(firm),
    }
    with locale_scope(client.locale):
        subject = render_template("email/trust_request/subject.txt", **context).strip()
        text = render_template("email/trust_request/body.txt", **context)
        html = render_template("email/trust_request/body.html", **context)
    send_after_commit(compose(to=client.email, subject=subject, text=text, html=html))
    request.emailed_at = clock.now()
    return True


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


# -- evergreen retainers -------------------------------------------------------------------


def evergreen_enabled(firm_id: int) -> bool:
    """Whether the firm asks for top-ups after syncs (one small query)."""
    mode = db.session.scalar(select(Firm.evergreen_mode).where(Firm.id == firm_id))
    return mode is not None and mode is not EvergreenMode.OFF


def evergreen_after_sync(firm_id: int, matter_ids: Iterable[int]) -> list[TrustRequest]:
    """After a sync touched these matters, ask for a top-up where trust fell below the minimum.

    Runs inside the sync's transaction (not committed). For each matter with a minimum whose
    trust balance (plus portal deposits still processing) is below it, and with no unpaid
    replenishment request already, a replenishment request for the shortfall is created, and
    emailed when the firm's evergreen mode says so. Nothing happens when the mode is off.
    """
    firm = db.session.get(Firm, firm_id)
    ids = sorted(set(matter_ids))
    if firm is None or firm.evergreen_mode is EvergreenMode.OFF or not ids:
        return []
    matters = list(
        db.session.scalars(
            select(Matter).where(
                Matter.firm_id == firm_id,
                Matter.id.in_(ids),
                Matter.trust_minimum_minor.is_not(None),
                Matter.trust_minimum_minor > 0,
            )
        )
    )
    if not matters:
        return []
    balances = ledger.trust_balances([matter.id for matter in matters])
    pending = _pending_deposits([matter.id for matter in matters])
    asked = set(
        db.session.scalars(
            select(TrustRequest.matter_id).where(
                TrustRequest.matter_id.in_([matter.id for matter in matters]),
                TrustRequest.kind == TrustRequestKind.REPLENISHMENT,
                TrustRequest.status.in_(sorted(PAYABLE)),
            )
        )
    )
    trust_currencies = _trust_currencies(firm_id)
    due_days = int(current_app.config["TRUST_REQUEST_EVERGREEN_DUE_DAYS"])
    created = []
    for matter in matters:
        minimum = matter.trust_minimum_minor or 0
        shortfall = minimum - balances.get(matter.id, 0) - pending.get(matter.id, 0)
        if shortfall <= 0 or matter.id in asked or matter.currency not in trust_currencies:
            continue
        request = TrustRequest(
            public_id=_public_id(),
            firm_id=firm_id,
            matter_id=matter.id,
            kind=TrustRequestKind.REPLENISHMENT,
            status=St.OPEN,
            source=TrustRequestSource.EVERGREEN,
            amount_minor=shortfall,
            currency=matter.currency,
            paid_minor=0,
            due_on=clock.today() + dt.timedelta(days=due_days),
            memo=_evergreen_memo(minimum, matter.currency),
            created_at=clock.now(),
        )
        db.session.add(request)
        db.session.flush()
        if firm.evergreen_mode is EvergreenMode.CREATE_AND_EMAIL:
            send_request_email(request)
        created.append(request)
    return created


def _evergreen_memo(minimum_minor: int, currency: str) -> str:
    from portal.money import format_money

    # The memo is stored, so it is written once in the firm's default language; the email
    # and pages around it are in the client's.
    locale = str(current_app.config["DEFAULT_LOCALE"])
    with locale_scope(locale):
        return gettext(
            "Replenish trust to the agreed minimum of %(amount)s",
            amount=format_money(minimum_minor, currency, locale),
        )


def _pending_deposits(matter_ids: Sequence[int]) -> dict[int, int]:
    rows = db.session.execute(
        select(Allocation.matter_id, cast(func.sum(Allocation.amount_minor), BigInteger))
        .join(Charge, Charge.id == Allocation.charge_id)
        .where(
            Allocation.matter_id.in_(matter_ids),
            Allocation.invoice_id.is_(None),
            Charge.status.in_(sorted(IN_FLIGHT)),
        )
        .group_by(Allocation.matter_id)
    ).all()
    return {matter_id: int(amount or 0) for matter_id, amount in rows}


def set_evergreen_mode(firm_id: int, mode: EvergreenMode) -> Firm:
    """Change the firm's evergreen mode (commits)."""
    firm = db.session.get(Firm, firm_id)
    if firm is None:
        raise NotFound("no such firm")
    firm.evergreen_mode = mode
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
    today = clock.today()
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
            age_days=(today - request.created_at.date()).days,
            is_overdue=request.due_on is not None and request.due_on < today,
        )
        for request, matter, number, client in rows
    ]


@dataclass(frozen=True)
class PaymentRow:
    request_id: str
    kind: TrustRequestKind
    matter: str
    payment_id: str
    charge_id: str
    charge_status: str
    currency: str
    amount_minor: int
    refunded_minor: int
    created_at: dt.datetime
    succeeded_at: dt.datetime | None


def payments_report(
    firm_id: int, start: dt.date | None = None, end: dt.date | None = None
) -> list[PaymentRow]:
    """Every payment allocation made to a trust request, oldest first (UTC days, inclusive)."""
    from portal.payments.models import Payment

    query = (
        select(
            TrustRequest.public_id,
            TrustRequest.kind,
            Matter.external_id,
            Payment.public_id,
            Charge.public_id,
            Charge.status,
            Charge.currency,
            Allocation.amount_minor,
            Allocation.refunded_minor,
            Payment.created_at,
            Charge.succeeded_at,
        )
        .select_from(Allocation)
        .join(TrustRequest, TrustRequest.id == Allocation.trust_request_id)
        .join(Charge, Charge.id == Allocation.charge_id)
        .join(Payment, Payment.id == Charge.payment_id)
        .join(Matter, Matter.id == Allocation.matter_id)
        .where(Allocation.firm_id == firm_id, TrustRequest.firm_id == firm_id)
    )
    conditions = []
    if start is not None:
        conditions.append(Payment.created_at >= _midnight(start))
    if end is not None:
        conditions.append(Payment.created_at < _midnight(end + dt.timedelta(days=1)))
    if conditions:
        query = query.where(and_(*conditions))
    rows = db.session.execute(query.order_by(Payment.created_at, Allocation.id)).all()
    return [
        PaymentRow(
            request_id=row[0],
            kind=row[1],
            matter=row[2],
            payment_id=row[3],
            charge_id=row[4],
            charge_status=row[5].value,
            currency=row[6],
            amount_minor=row[7],
            refunded_minor=row[8],
            created_at=row[9],
            succeeded_at=row[10],
        )
        for row in rows
    ]


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
