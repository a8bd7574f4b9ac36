"""The reconciliation report: per merchant account and day, what came in and what went out.

Days are the firm's (`firms.services.firm_zone`): midnight to midnight in its time zone.

For each merchant account and each day with activity:

- gross: amounts of the charges that succeeded that day (the firm's date of `succeeded_at`) and
  are still succeeded, refunded, returned or disputed;
- fees: processing fees of those charges. A fee is borne by operating, never by trust, so the
  fee of a trust charge is shown on the line of the firm's operating account (same currency)
  for that day, and a trust line's fee is always 0;
- refunds: succeeded refunds recorded that day (`Refund.created_at`);
- returns / disputes: what an ACH return or a dispute took back that day (the charge's amount
  less what had been refunded before), from the charge's history (`ChargeEvent.recorded_at`).
  A dispute won (disputed -> succeeded) gives it back: a negative dispute that day;
- net = gross - fees - refunds - returns - disputes.

All sums are integers of minor units. `account` (a merchant account's public id) keeps that
account's lines and total, and the payments with activity on it (a trust charge's fee counts
as activity on operating, where it is shown). The payments listed are those with a charge that has
activity in the period; when all of their activity falls in the period, the sum of the lines'
net equals the sum over their charges of amount - fee - refunded - what a return or dispute
still holds back.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal import clock
from portal.db import db
from portal.errors import NotFound
from portal.firms.models import MerchantAccount, MerchantAccountKind
from portal.firms.services import firm_by_id, firm_period, firm_zone
from portal.payments.models import (
    Charge,
    ChargeEvent,
    ChargeStatus,
    Payment,
    Refund,
    payment_status,
)

S = ChargeStatus

#: Most days one report covers (a leap year).
MAX_DAYS = 366
#: Charges whose money arrived once: their amount counts as gross on the day they succeeded.
RECEIVED = frozenset({S.SUCCEEDED, S.PARTIALLY_REFUNDED, S.REFUNDED, S.RETURNED, S.DISPUTED})
#: Statuses in which a return or a dispute still holds the charge's money back.
REVERSED = frozenset({S.RETURNED, S.DISPUTED})
#: How many ids go into one `IN (...)` list.
CHUNK = 500
COLUMNS = ("gross", "fees", "refunds", "returns", "disputes")


@dataclass(frozen=True)
class Account:
    """A merchant account as the report names it."""

    id: int | None
    kind: MerchantAccountKind
    label: str
    currency: str
    #: The merchant account's public id (None for the stand-in operating line of a fee).
    public_id: str | None = None


@dataclass
class Amounts:
    gross: int = 0
    fees: int = 0
    refunds: int = 0
    returns: int = 0
    disputes: int = 0

    @property
    def net(self) -> int:
        return self.gross - self.fees - self.refunds - self.returns - self.disputes

    def add(self, other: Amounts) -> None:
        for name in COLUMNS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class Line:
    account: Account
    day: dt.date
    amounts: Amounts


@dataclass(frozen=True)
class AccountTotal:
    account: Account
    amounts: Amounts


@dataclass(frozen=True)
class ChargeRow:
    public_id: str
    kind: MerchantAccountKind
    status: ChargeStatus
    amount: int
    fee: int
    refunded: int
    #: What a return or dispute still holds back (0 unless returned or disputed).
    reversed: int


@dataclass(frozen=True)
class PaymentRow:
    public_id: str
    status: str
    currency: str
    created_at: dt.datetime
    charges: list[ChargeRow]


@dataclass
class Report:
    start: dt.date
    end: dt.date
    #: The IANA zone whose days the report counts.
    time_zone: str = "UTC"
    lines: list[Line] = field(default_factory=list)
    totals: list[AccountTotal] = field(default_factory=list)
    payments: list[PaymentRow] = field(default_factory=list)


def _day_in(zone: dt.tzinfo) -> Callable[[dt.datetime], dt.date]:
    """The firm's calendar day of a stored instant (a naive one is UTC)."""
    return lambda instant: clock.local_day(instant, zone)


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def report(firm_id: int, start: dt.date, end: dt.date, account: str | None = None) -> Report:
    """The firm's reconciliation from `start` to `end`, both inclusive: days as the firm
    counts them, in its time zone (midnight to midnight there, 23 or 25 hours at DST); only
    the merchant account whose public id is `account` if given (NotFound if the firm has no
    such account)."""
    if end < start:
        raise ValueError("end before start")
    zone = firm_zone(firm_by_id(firm_id))
    _day = _day_in(zone)
    low, high = firm_period(firm_id, start, end)
    accounts = {
        row.id: Account(row.id, row.kind, row.label, row.currency, row.public_id)
        for row in db.session.scalars(
            select(MerchantAccount)
            .where(MerchantAccount.firm_id == firm_id)
            .order_by(MerchantAccount.id)
        )
    }
    only = None
    if account is not None:
        only = next((a for a in accounts.values() if a.public_id == account), None)
        if only is None:
            raise NotFound("No merchant account with this id.")
    operating: dict[str, Account] = {}
    for each in accounts.values():
        if each.kind is MerchantAccountKind.OPERATING:
            operating.setdefault(each.currency, each)

    cells: dict[tuple[Account, dt.date], Amounts] = defaultdict(Amounts)
    #: The payments with activity on each account.
    active: dict[Account, set[int]] = defaultdict(set)

    # Gross and fees, on the day each charge succeeded.
    received = db.session.scalars(
        select(Charge).where(
            Charge.firm_id == firm_id,
            Charge.succeeded_at >= low,
            Charge.succeeded_at < high,
            Charge.status.in_(sorted(RECEIVED)),
        )
    )
    for charge in received:
        if charge.succeeded_at is None:  # not for the statuses selected; for the type checker
            continue
        day = _day(charge.succeeded_at)
        target = accounts[charge.merchant_account_id]
        cells[target, day].gross += charge.amount_minor
        active[target].add(charge.payment_id)
        fee = charge.fee_minor or 0
        if fee:
            bearer = _fee_account(target, operating)
            cells[bearer, day].fees += fee
            active[bearer].add(charge.payment_id)

    # Refunds, on the day they were recorded.
    refunds = db.session.execute(
        select(
            Refund.amount_minor, Refund.created_at, Charge.merchant_account_id, Charge.payment_id
        )
        .join(Charge, Charge.id == Refund.charge_id)
        .where(
            Refund.firm_id == firm_id,
            Refund.status == "succeeded",
            Refund.created_at >= low,
            Refund.created_at < high,
        )
    )
    for amount, created_at, account_id, payment_id in refunds:
        cells[accounts[account_id], _day(created_at)].refunds += amount
        active[accounts[account_id]].add(payment_id)

    # Returns and disputes (and disputes won), from the charges' histories.
    moves = list(
        db.session.execute(
            select(ChargeEvent, Charge)
            .join(Charge, Charge.id == ChargeEvent.charge_id)
            .where(
                Charge.firm_id == firm_id,
                ChargeEvent.recorded_at >= low,
                ChargeEvent.recorded_at < high,
                (ChargeEvent.to_status.in_([S.RETURNED, S.DISPUTED]))
                | (
                    (ChargeEvent.from_status == S.DISPUTED) & (ChargeEvent.to_status == S.SUCCEEDED)
                ),
            )
            .order_by(ChargeEvent.id)
        )
    )
    history = _charge_histories({charge.id for _, charge in moves})
    for event, charge in moves:
        held = _held_back(charge, history[charge.id], event)
        cell = cells[accounts[charge.merchant_account_id], _day(event.recorded_at)]
        if event.to_status is S.RETURNED:
            cell.returns += held
        elif event.to_status is S.DISPUTED:
            cell.disputes += held
        else:
            cell.disputes -= held
        active[accounts[charge.merchant_account_id]].add(charge.payment_id)

    result = Report(start=start, end=end, time_zone=str(zone))
    order = {account: n for n, account in enumerate(accounts.values())}
    order_of = lambda each: (order.get(each, len(order)), each.label)  # noqa: E731
    totals: dict[Account, Amounts] = {}
    for (each, day), amounts in sorted(cells.items(), key=lambda i: (order_of(i[0][0]), i[0][1])):
        if only is not None and each != only:
            continue
        result.lines.append(Line(each, day, amounts))
        totals.setdefault(each, Amounts()).add(amounts)
    result.totals = [AccountTotal(each, amounts) for each, amounts in totals.items()]
    wanted: set[int] = active[only] if only is not None else set[int]().union(*active.values())
    result.payments = _payments(firm_id, wanted)
    return result


def _fee_account(account: Account, operating: dict[str, Account]) -> Account:
    """Where a charge's fee is shown: operating, whatever account the charge went to."""
    if account.kind is MerchantAccountKind.OPERATING:
        return account
    found = operating.get(account.currency)
    if found is not None:
        return found
    # A firm with trust but no operating account in this currency: the fee is still
    # operating's to bear, on a line of its own rather than on trust.
    return Account(None, MerchantAccountKind.OPERATING, "Operating (no account)", account.currency)


@dataclass
class _History:
    events: list[ChargeEvent]
    refunds: list[tuple[dt.datetime, int, int]]


def _charge_histories(charge_ids: set[int]) -> dict[int, _History]:
    histories = {charge_id: _History([], []) for charge_id in charge_ids}
    for chunk in _chunks(charge_ids):
        for event in db.session.scalars(
            select(ChargeEvent).where(ChargeEvent.charge_id.in_(chunk)).order_by(ChargeEvent.id)
        ):
            histories[event.charge_id].events.append(event)
        for refund in db.session.scalars(
            select(Refund)
            .where(Refund.charge_id.in_(chunk), Refund.status == "succeeded")
            .order_by(Refund.id)
        ):
            histories[refund.charge_id].refunds.append(
                (refund.created_at, refund.id, refund.amount_minor)
            )
    return histories


def _held_back(charge: Charge, history: _History, event: ChargeEvent) -> int:
    """What the return or dispute of `event` took (or a dispute won gave back): the charge's
    amount less what had been refunded before the reversal began."""
    reversal = event
    if event.to_status is S.SUCCEEDED:
        # A dispute won gives back what the dispute that it ends took.
        earlier = [e for e in history.events if e.id < event.id and e.to_status is S.DISPUTED]
        if earlier:
            reversal = earlier[-1]
    refunded = sum(
        amount for created_at, _, amount in history.refunds if created_at <= reversal.recorded_at
    )
    return max(charge.amount_minor - min(refunded, charge.refunded_minor), 0)


def _payments(firm_id: int, payment_ids: set[int]) -> list[PaymentRow]:
    rows: list[PaymentRow] = []
    for chunk in _chunks(payment_ids):
        payments = db.session.scalars(
            select(Payment)
            .options(selectinload(Payment.charges))
            .where(Payment.firm_id == firm_id, Payment.id.in_(chunk))
            .order_by(Payment.id)
        )
        for payment in payments:
            rows.append(
                PaymentRow(
                    public_id=payment.public_id,
                    status=payment_status(payment),
                    currency=payment.currency,
                    created_at=payment.created_at,
                    charges=[_charge_row(charge) for charge in payment.charges],
                )
            )
    return rows


def _charge_row(charge: Charge) -> ChargeRow:
    held = charge.amount_minor - charge.refunded_minor if charge.status in REVERSED else 0
    return ChargeRow(
        public_id=charge.public_id,
        kind=charge.account_kind,
        status=charge.status,
        amount=charge.amount_minor,
        fee=charge.fee_minor or 0,
        refunded=charge.refunded_minor,
        reversed=held,
    )
