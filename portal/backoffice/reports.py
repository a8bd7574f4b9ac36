"""Back-office reports that read more than one feature: the payments made to trust requests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, select

from portal.billing.models import Matter
from portal.db import db
from portal.firms.services import firm_period
from portal.payments.models import Allocation, Charge, Payment
from portal.trust_requests.models import TrustRequest, TrustRequestKind


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
    """Every payment allocation made to a trust request, oldest first (the firm's days,
    inclusive)."""
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
    low, high = firm_period(firm_id, start, end)
    if low is not None:
        conditions.append(Payment.created_at >= low)
    if high is not None:
        conditions.append(Payment.created_at < high)
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
