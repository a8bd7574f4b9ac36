"""A client's payment history, as their link may see it: newest first, each with its number.

The same rule as a single receipt (`checkout.payment_for_link`): the link's client's payments
in the link's firm, limited to those made through this very link or whose every allocation
is in a matter the link may see. A link scoped to one matter never lists a payment that names
another matter, and no link ever lists another client's payment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, not_, or_, select
from sqlalchemy.orm import selectinload

from portal.db import db
from portal.links import services as links
from portal.links.models import Link
from portal.payments.models import Allocation, Charge, Payment, payment_status

#: Payments a history lists at most (newest first); older ones stay reachable by their links.
HISTORY_SHOWN = 100


@dataclass(frozen=True, slots=True)
class PaymentSummary:
    """One line of the payment history."""

    public_id: str
    number: str
    created_at: dt.datetime
    currency: str
    total_minor: int
    refunded_minor: int
    #: `payment_status` of the payment.
    status: str
    method: str


def _visible_to(link: Link, matter_ids: list[int]) -> ColumnElement[bool]:
    """The SQL form of `payment_for_link`'s rule (see the module's docstring)."""
    allocation_of_payment = and_(Charge.payment_id == Payment.id, Allocation.charge_id == Charge.id)
    has_lines = exists().where(allocation_of_payment)
    outside = exists().where(allocation_of_payment, Allocation.matter_id.not_in(matter_ids))
    return and_(
        Payment.firm_id == link.firm_id,
        Payment.client_id == link.client_id,
        or_(Payment.link_id == link.id, and_(has_lines, not_(outside))),
    )


def payments_for_link(link: Link, *, matter_id: int | None = None) -> tuple[PaymentSummary, ...]:
    """The payments `link` may see, newest first (at most HISTORY_SHOWN); with `matter_id`,
    only those with an allocation to that matter. Three queries."""
    visible = links.visible_matter_ids(link)
    statement = select(Payment).where(_visible_to(link, visible))
    if matter_id is not None:
        statement = statement.where(
            exists().where(
                Charge.payment_id == Payment.id,
                Allocation.charge_id == Charge.id,
                Allocation.matter_id == matter_id,
            )
        )
    payments = db.session.scalars(
        statement.options(selectinload(Payment.charges))
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(HISTORY_SHOWN)
    ).all()
    return tuple(
        PaymentSummary(
            public_id=payment.public_id,
            number=payment.number,
            created_at=payment.created_at,
            currency=payment.currency,
            total_minor=payment.total_minor,
            refunded_minor=sum(charge.refunded_minor for charge in payment.charges),
            status=payment_status(payment),
            method=payment.method.value,
        )
        for payment in payments
    )
