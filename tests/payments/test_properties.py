"""Properties of the money machinery under random histories, through the real services.

Hypothesis writes a history: card and bank payments to invoices and trust, processor events
in any order (stale, repeated, contradictory, about any charge), refunds of any share, and the
back office paying out of trust. After every step:

- every charge's recorded history is a chain of moves the table `ALLOWED` permits, starting
  at "created", ending at the charge's status;
- every invoice's balance due stays between zero and its total, and its reservation for
  charges in flight is never negative;
- a matter's trust balance (as the ledger, the API and the client's statement see it) equals
  the sum of its ledger entries, and whenever the portal's own entry took it below zero a
  "trust_below_zero" flag names that charge and matter.

The pure allocation properties live in test_allocation.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from portal import clock
from portal.billing.models import Invoice, Matter
from portal.db import db
from portal.errors import PortalError
from portal.firms.models import MerchantAccount
from portal.gateways.base import GatewayEvent
from portal.ledger import services as ledger
from portal.ledger.models import TrustEntry
from portal.payments import services as payments
from portal.payments.allocation import AllocationError
from portal.payments.models import (
    ALLOWED,
    Charge,
    ChargeEvent,
    ChargeStatus,
    Payment,
    PaymentFlag,
    PaymentMethod,
)
from portal.payments.services import RefundLine
from tests import factories
from tests.conftest import APIClient
from tests.payments.conftest import ACH_OK, VISA, Book, pay

_ids = itertools.count(1)

pay_step = st.tuples(
    st.just("pay"),
    st.sampled_from(["invoice", "trust", "both"]),
    st.integers(100, 150_000),
    st.sampled_from([PaymentMethod.CARD, PaymentMethod.ACH]),
)
event_step = st.tuples(
    st.just("event"),
    st.integers(0, 7),  # which charge (modulo how many there are)
    # Every status, with the ones that move money back out drawn more often.
    st.sampled_from([*ChargeStatus, None, *[ChargeStatus.DISPUTED, ChargeStatus.RETURNED] * 3]),
    st.integers(0, 300_000),
)
refund_step = st.tuples(
    st.just("refund"),
    st.integers(0, 7),
    st.sampled_from(["all", "half", "one-cent"]),
    st.none(),
)
disburse_step = st.tuples(st.just("disburse"), st.integers(1, 400_000), st.none(), st.none())
steps = st.lists(
    st.one_of(pay_step, event_step, refund_step, disburse_step), min_size=2, max_size=10
)


def _do(book: Book, step: tuple[Any, ...]) -> None:
    kind = step[0]
    # This example's charges only (the examples of one test share its transaction).
    charges = list(
        db.session.scalars(
            select(Charge)
            .join(Payment, Payment.id == Charge.payment_id)
            .where(Payment.client_id == book.client.id)
            .order_by(Charge.id)
        )
    )
    if kind == "pay":
        _, target, amount, method = step
        invoices, trust = {}, {}
        if target in ("invoice", "both"):
            db.session.refresh(book.old)
            payable = book.old.balance_due_minor - book.old.reserved_minor
            if payable >= 100:
                invoices[book.old.id] = min(amount, payable)
        if target in ("trust", "both"):
            trust[book.matter.id] = amount
        if not invoices and not trust:
            return
        instrument = VISA if method is PaymentMethod.CARD else ACH_OK
        # Refused (e.g. what is left of the invoice is under the minimum): nothing changes.
        with contextlib.suppress(AllocationError):
            pay(book, invoices=invoices, trust=trust, method=method, instrument=instrument)
    elif kind == "event" and charges:
        _, index, status, amount = step
        charge = charges[index % len(charges)]
        account = db.session.get(MerchantAccount, charge.merchant_account_id)
        assert account is not None
        payments.apply_gateway_event(
            account,
            GatewayEvent(
                event_id=f"evt_{next(_ids)}",
                type="test.event",
                gateway_ref=None,
                charge_ref=charge.public_id,
                status=status,
                occurred_at=clock.now(),
                amount_minor=amount,
            ),
        )
        db.session.commit()
    elif kind == "refund" and charges:
        _, index, share, _ = step
        charge = charges[index % len(charges)]
        lines = None
        if share != "all":
            lines = [
                RefundLine(line.id, 1 if share == "one-cent" else max(line.amount_minor // 2, 1))
                for line in charge.allocations
            ]
        # Not refundable now (in flight, already refunded, ...): refused, nothing changes.
        with contextlib.suppress(PortalError):
            payments.refund_payment(
                firm_id=charge.firm_id,
                payment_public_id=charge.payment.public_id,
                lines=lines,
                idempotency_key=f"prop-{next(_ids)}",
            )
    elif kind == "disburse":
        # The back office pays an expense out of the client's trust money.
        factories.trust_entry(book.matter, -step[1], description="Filing fee")
        db.session.commit()


def _quiet(_label: str) -> None:
    """Stands in for hypothesis.event outside a Hypothesis test."""


def _check_charges(firm_id: int, note: Callable[[str], None] = _quiet) -> None:
    for charge in db.session.scalars(select(Charge).where(Charge.firm_id == firm_id)):
        events = list(
            db.session.scalars(
                select(ChargeEvent)
                .where(ChargeEvent.charge_id == charge.id)
                .order_by(ChargeEvent.id)
            )
        )
        assert events[0].from_status is None
        assert events[0].to_status is ChargeStatus.CREATED
        for before, after in itertools.pairwise(events):
            assert after.from_status is before.to_status
            assert after.to_status in ALLOWED[before.to_status], (before.to_status, after.to_status)
        assert events[-1].to_status is charge.status
        note(f"a charge reached {charge.status.value}")


def _check_invoices(matter: Matter) -> None:
    for invoice in db.session.scalars(select(Invoice).where(Invoice.matter_id == matter.id)):
        db.session.refresh(invoice)
        assert 0 <= invoice.balance_due_minor <= invoice.total_minor
        assert invoice.reserved_minor >= 0


def _check_trust(matter: Matter, api: APIClient, note: Callable[[str], None] = _quiet) -> None:
    entries = list(
        db.session.scalars(
            select(TrustEntry).where(TrustEntry.matter_id == matter.id).order_by(TrustEntry.id)
        )
    )
    counted = [entry for entry in entries if entry.superseded_by_id is None]
    balance = sum(entry.amount_minor for entry in counted)
    # the ledger, the payment services and the firm's API agree with the entries
    assert ledger.trust_balances([matter.id])[matter.id] == balance
    assert ledger.trust_balance(matter.id) == balance
    shown = api.get(f"/api/v1/matters/{matter.external_id}").get_json()
    assert shown["trust_balance"] == balance
    # every portal entry that left the matter below zero is flagged, for that charge
    flagged = {
        (flag.charge_id, flag.matter_id)
        for flag in db.session.scalars(
            select(PaymentFlag).where(PaymentFlag.code == "trust_below_zero")
        )
    }
    running = 0
    for entry in counted:
        running += entry.amount_minor
        if entry.source == "portal" and entry.amount_minor < 0 and running < 0:
            note("a portal reversal took trust below zero")
            assert (entry.charge_id, matter.id) in flagged, (entry.description, running)


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=steps)
# Always tried as well: a card deposit to trust, most of the trust paid out, then a dispute.
@example(
    history=[
        ("pay", "trust", 50_000, PaymentMethod.CARD),
        ("disburse", 60_000, None, None),
        ("event", 0, ChargeStatus.DISPUTED, 0),
        ("event", 0, ChargeStatus.SUCCEEDED, 0),
    ]
)
def test_random_histories_keep_the_books_straight(session, firm, api, history) -> None:
    # given a fresh book on its own client (examples share the test's transaction)
    person = factories.client(firm)
    matter = factories.matter(person, trust_minimum_minor=0)
    today = clock.today()
    old = factories.invoice(matter, total_minor=120_000, due_on=today - dt.timedelta(days=5))
    new = factories.invoice(matter, total_minor=80_000, due_on=today + dt.timedelta(days=25))
    factories.trust_entry(matter, 20_000, description="Retainer")
    book = Book(person, matter, matter, old, new, factories.link(person))

    for step in history:
        # when
        _do(book, step)

        # then
        _check_charges(firm.firm.id, note=event)
        _check_invoices(matter)
        _check_trust(matter, api, note=event)


def test_the_flag_check_is_not_vacuous(session, firm, api) -> None:
    # given a card deposit to trust, then the back office pays most of it out
    person = factories.client(firm)
    matter = factories.matter(person)
    book = Book(
        person,
        matter,
        matter,
        factories.invoice(matter),
        factories.invoice(matter),
        factories.link(person),
    )
    payment = pay(book, trust={matter.id: 50_000})
    factories.trust_entry(matter, -45_000, description="Expert fee")
    (charge,) = payment.charges
    account = db.session.get(MerchantAccount, charge.merchant_account_id)

    # when the deposit is disputed
    payments.apply_gateway_event(
        account,
        GatewayEvent(
            "evt_d", "dispute", None, charge.public_id, ChargeStatus.DISPUTED, clock.now()
        ),
    )

    # then the balance is below zero, flagged, and the checks above hold
    assert ledger.trust_balance(matter.id) == -45_000
    noted: list[str] = []
    _check_trust(matter, api, note=noted.append)
    assert noted == ["a portal reversal took trust below zero"]
    _check_charges(firm.firm.id)
