"""What payments tell the features that follow trust money: the totals trust requests are set
from after each money move, and the trust deposits still on their way for the evergreen check.

Payments own the charges and allocations; trust requests never read them. They are told
through `portal.trust_requests.holds` inside payments' own transaction (nothing here commits).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import BigInteger, Select, cast, func, select

from portal.db import db
from portal.payments.models import IN_FLIGHT, SETTLED, Allocation, Charge
from portal.trust_requests import holds


def _held_by(request_ids: Sequence[int], statuses: Iterable[object]) -> Select[int | None, int]:
    return (
        select(
            Allocation.trust_request_id,
            cast(func.sum(Allocation.amount_minor - Allocation.refunded_minor), BigInteger),
        )
        .join(Charge, Charge.id == Allocation.charge_id)
        .where(Allocation.trust_request_id.in_(request_ids), Charge.status.in_(list(statuses)))
        .group_by(Allocation.trust_request_id)
    )


def _sums(statement: Select[int | None, int]) -> dict[int, int]:
    rows = db.session.execute(statement).all()
    return {request_id: int(amount or 0) for request_id, amount in rows if request_id is not None}


def request_totals(request_ids: Sequence[int]) -> dict[int, holds.Held]:
    """What settled charges (less refunds) and charges in flight hold on each request."""
    if not request_ids:
        return {}
    settled = _sums(_held_by(request_ids, sorted(SETTLED)))
    in_flight = _sums(_held_by(request_ids, sorted(IN_FLIGHT)))
    return {
        request_id: holds.Held(
            paid_minor=settled.get(request_id, 0),
            in_flight_minor=in_flight.get(request_id, 0),
        )
        for request_id in set(settled) | set(in_flight)
    }


def recompute_for_charge(charge: Charge) -> None:
    """Bring the requests `charge` pays up to date after it moved (not committed)."""
    ids = sorted({line.trust_request_id for line in charge.allocations if line.trust_request_id})
    if ids:
        holds.recompute(ids, totals=request_totals, charge=charge)


def pending_trust_deposits(matter_ids: Sequence[int]) -> dict[int, int]:
    """Portal trust deposits still in flight (e.g. bank debits clearing), by matter id."""
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
