"""The firm's dashboard: money received per merchant account today, this month and this year
(days of the firm's time zone), and what needs a person, with counts and the first items.

A read model over several features (payments, postings, links, the ledger, trust requests,
saved payers);
it writes nothing. The API's `GET /dashboard` and the console's dashboard show the same one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from portal import clock
from portal.billing.models import Matter
from portal.db import db
from portal.firms.models import MerchantAccount
from portal.firms.services import firm_by_id, firm_zone
from portal.ledger import services as ledger
from portal.links.models import DeliveryState, LinkDelivery
from portal.payers import services as payers
from portal.payments.filters import open_unmatched
from portal.payments.models import Charge, ChargeEvent, ChargeStatus, Payment
from portal.postings.models import MessageStatus, OutboundMessage
from portal.trust_requests.models import TrustRequest, TrustRequestStatus

S = ChargeStatus
#: How many items each "needs a person" list shows; its count is always the whole number.
LIST_SIZE = 20
#: Returns stay on the dashboard this long after they happened.
RECENT_RETURNS = dt.timedelta(days=30)
#: The states of a charge whose money arrived (what "received" counts, refunds aside).
RECEIVED = (S.SUCCEEDED, S.PARTIALLY_REFUNDED, S.REFUNDED, S.DISPUTED, S.RETURNED)


@dataclass(frozen=True)
class Received:
    """Charges whose money arrived in a period: how many, and their amounts (minor units)."""

    count: int
    amount_minor: int


@dataclass(frozen=True)
class AccountFigures:
    account: MerchantAccount
    today: Received
    month: Received
    year: Received


@dataclass(frozen=True)
class Attention:
    """One "needs a person" list: the whole count and the first LIST_SIZE items (dicts of
    plain values, oldest first)."""

    count: int
    items: list[dict[str, Any]]


@dataclass(frozen=True)
class Dashboard:
    #: The firm's day the figures are for, and its time zone's name.
    today: dt.date
    time_zone: str
    accounts: list[AccountFigures]
    held_postings: Attention
    failed_deliveries: Attention
    unmatched_payments: Attention
    trust_shortfalls: Attention
    disputes_and_returns: Attention
    overdue_trust_requests: Attention
    expiring_cards: Attention


def dashboard(firm_id: int) -> Dashboard:
    """The firm's dashboard as of now."""
    firm = firm_by_id(firm_id)
    zone = firm_zone(firm)
    today = clock.today_in(zone)
    periods = {
        "today": (today, today + dt.timedelta(days=1)),
        "month": (today.replace(day=1), _next_month(today)),
        "year": (today.replace(month=1, day=1), today.replace(year=today.year + 1, month=1, day=1)),
    }
    bounds = {
        name: (clock.day_bounds(first, zone)[0], clock.day_bounds(after, zone)[0])
        for name, (first, after) in periods.items()
    }
    accounts = list(
        db.session.scalars(
            select(MerchantAccount)
            .where(MerchantAccount.firm_id == firm_id)
            .order_by(MerchantAccount.kind, MerchantAccount.id)
        )
    )
    figures = [
        AccountFigures(
            account=account,
            **{name: _received(account.id, start, end) for name, (start, end) in bounds.items()},
        )
        for account in accounts
    ]
    return Dashboard(
        today=today,
        time_zone=str(getattr(zone, "key", zone)),
        accounts=figures,
        held_postings=_postings(firm_id, MessageStatus.HELD),
        failed_deliveries=_failed_deliveries(firm_id),
        unmatched_payments=_unmatched(firm_id),
        trust_shortfalls=_shortfalls(firm_id),
        disputes_and_returns=_reversals(firm_id),
        overdue_trust_requests=_overdue(firm_id, today),
        expiring_cards=_expiring(firm_id, today),
    )


def _next_month(day: dt.date) -> dt.date:
    if day.month == 12:
        return dt.date(day.year + 1, 1, 1)
    return dt.date(day.year, day.month + 1, 1)


def _received(account_id: int, start: dt.datetime, end: dt.datetime) -> Received:
    count, amount = db.session.execute(
        select(func.count(Charge.id), func.coalesce(func.sum(Charge.amount_minor), 0)).where(
            Charge.merchant_account_id == account_id,
            Charge.status.in_(RECEIVED),
            Charge.succeeded_at >= start,
            Charge.succeeded_at < end,
        )
    ).one()
    # A SUM over PostgreSQL's bigint comes back as Decimal.
    return Received(count=int(count), amount_minor=int(amount))


def _attention(statement: Select[*tuple[Any, ...]], shape: Any) -> Attention:
    """Count every row of `statement`, and shape its first LIST_SIZE rows."""
    count = db.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = db.session.execute(statement.limit(LIST_SIZE)).all()
    return Attention(count=int(count), items=[shape(row) for row in rows])


def _postings(firm_id: int, status: MessageStatus) -> Attention:
    statement = (
        select(OutboundMessage.public_id, OutboundMessage.type, OutboundMessage.created_at)
        .where(OutboundMessage.firm_id == firm_id, OutboundMessage.status == status)
        .order_by(OutboundMessage.id)
    )
    return _attention(statement, lambda row: {"id": row[0], "type": row[1], "created_at": row[2]})


def _failed_deliveries(firm_id: int) -> Attention:
    """Postings every retry failed, then link emails the mail server refused."""
    postings = _postings(firm_id, MessageStatus.FAILED)
    emails = _attention(
        select(LinkDelivery.public_id, LinkDelivery.failed_at, LinkDelivery.error)
        .where(LinkDelivery.firm_id == firm_id, LinkDelivery.state == DeliveryState.FAILED)
        .order_by(LinkDelivery.id),
        lambda row: {"id": row[0], "type": "link.email", "created_at": row[1], "error": row[2]},
    )
    items = [{**item, "kind": "posting"} for item in postings.items]
    items += [{**item, "kind": "link_email"} for item in emails.items]
    return Attention(count=postings.count + emails.count, items=items[:LIST_SIZE])


def _unmatched(firm_id: int) -> Attention:
    statement = (
        select(
            Payment.public_id,
            Payment.total_minor,
            Payment.currency,
            Payment.payer_reference,
            Payment.created_at,
        )
        .where(Payment.firm_id == firm_id, open_unmatched())
        .order_by(Payment.id)
    )
    return _attention(
        statement,
        lambda row: {
            "id": row[0],
            "amount_minor": row[1],
            "currency": row[2],
            "payer_reference": row[3],
            "created_at": row[4],
        },
    )


def _shortfalls(firm_id: int) -> Attention:
    """Matters whose trust balance is below their minimum (or below zero without one)."""
    matters = db.session.execute(
        select(Matter.id, Matter.external_id, Matter.trust_minimum_minor)
        .where(Matter.firm_id == firm_id)
        .order_by(Matter.id)
    ).all()
    balances = ledger.trust_balances(row[0] for row in matters)
    short: list[dict[str, Any]] = []
    for matter_id, external_id, minimum in matters:
        balance = int(balances.get(matter_id, 0))
        floor = minimum or 0
        if balance < floor:
            short.append(
                {
                    "matter": external_id,
                    "balance_minor": balance,
                    "minimum_minor": floor,
                    "shortfall_minor": floor - balance,
                }
            )
    return Attention(count=len(short), items=short[:LIST_SIZE])


def _reversals(firm_id: int) -> Attention:
    """Charges in dispute, and charges an ACH return took back within RECENT_RETURNS."""
    returned_since = clock.now() - RECENT_RETURNS
    recent_return = (
        select(ChargeEvent.id)
        .where(
            ChargeEvent.charge_id == Charge.id,
            ChargeEvent.to_status == S.RETURNED,
            ChargeEvent.recorded_at >= returned_since,
        )
        .exists()
    )
    statement = (
        select(
            Payment.public_id,
            Charge.public_id,
            Charge.status,
            Charge.amount_minor,
            Charge.currency,
            Charge.account_kind,
        )
        .join(Payment, Payment.id == Charge.payment_id)
        .where(
            Charge.firm_id == firm_id,
            (Charge.status == S.DISPUTED) | ((Charge.status == S.RETURNED) & recent_return),
        )
        .order_by(Charge.id)
    )
    return _attention(
        statement,
        lambda row: {
            "payment": row[0],
            "charge": row[1],
            "status": row[2].value,
            "amount_minor": row[3],
            "currency": row[4],
            "account_kind": row[5].value,
        },
    )


def _overdue(firm_id: int, today: dt.date) -> Attention:
    statement = (
        select(
            TrustRequest.public_id,
            Matter.external_id,
            TrustRequest.amount_minor - TrustRequest.paid_minor,
            TrustRequest.currency,
            TrustRequest.due_on,
        )
        .join(Matter, Matter.id == TrustRequest.matter_id)
        .where(
            TrustRequest.firm_id == firm_id,
            TrustRequest.status.in_((TrustRequestStatus.OPEN, TrustRequestStatus.PARTIALLY_PAID)),
            TrustRequest.due_on < today,
        )
        .order_by(TrustRequest.due_on, TrustRequest.id)
    )
    return _attention(
        statement,
        lambda row: {
            "id": row[0],
            "matter": row[1],
            "outstanding_minor": int(row[2]),
            "currency": row[3],
            "due_on": row[4],
        },
    )


def _expiring(firm_id: int, today: dt.date) -> Attention:
    """Saved cards that stop working within 30 days (or have), soonest first."""
    found = payers.expiring(firm_id, today)
    return Attention(
        count=len(found),
        items=[
            {
                "payment_method": m.public_id,
                "payer": m.payer.public_id,
                "brand": m.brand,
                "last4": m.last4,
                "exp_month": m.exp_month,
                "exp_year": m.exp_year,
            }
            for m in found[:LIST_SIZE]
        ],
    )
