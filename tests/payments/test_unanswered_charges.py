"""A charge whose create call got no answer is found at the processor and recorded, or, when
the processor never received it, canceled after an hour with its reservation freed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from portal import clock
from portal.billing.models import Invoice
from portal.db import db
from portal.gateways.sandbox import SandboxGateway
from portal.payments import unanswered
from portal.payments.models import ChargeStatus, PaymentFlag
from tests.payments.conftest import Book, pay

NOW = dt.timedelta(0)


def _available(invoice: Invoice) -> int:
    db.session.refresh(invoice)
    return invoice.balance_due_minor - invoice.reserved_minor


def test_a_charge_made_but_unanswered_is_found_and_recorded(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_charge = SandboxGateway.charge

    def charge_then_drop_the_answer(self: SandboxGateway, *args: Any, **kw: Any) -> Any:
        real_charge(self, *args, **kw)
        db.session.commit()  # the processor keeps its record; only the answer is lost
        raise ConnectionError("the answer was lost")

    monkeypatch.setattr(SandboxGateway, "charge", charge_then_drop_the_answer)
    payment = pay(book, invoices={book.new.id: 25_000})
    (charge,) = payment.charges
    assert charge.status is ChargeStatus.CREATED and charge.gateway_ref is None

    assert unanswered.settle_unanswered_charges(older_than=dt.timedelta(hours=1)) == []
    assert unanswered.settle_unanswered_charges(older_than=NOW) == [
        unanswered.Settled(charge.public_id, "succeeded")
    ]
    db.session.refresh(charge)
    assert charge.status is ChargeStatus.SUCCEEDED and charge.gateway_ref
    assert _available(book.new) == 80_000 - 25_000
    assert unanswered.settle_unanswered_charges(older_than=NOW) == []


def test_a_charge_the_processor_never_received_is_canceled_after_an_hour(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(self: SandboxGateway, *args: Any, **kw: Any) -> Any:
        raise TimeoutError("the processor is down")

    monkeypatch.setattr(SandboxGateway, "charge", down)
    payment = pay(book, invoices={book.new.id: 25_000})
    (charge,) = payment.charges
    assert _available(book.new) == 80_000 - 25_000  # reserved while we do not know

    # not known yet, but not long enough to give up: still waiting
    assert unanswered.settle_unanswered_charges(older_than=NOW) == []
    later = clock.now() + unanswered.GIVE_UP_AFTER
    monkeypatch.setattr(clock, "now", lambda: later)
    assert unanswered.settle_unanswered_charges() == [
        unanswered.Settled(charge.public_id, "canceled")
    ]
    assert _available(book.new) == 80_000
    (flag,) = db.session.scalars(select(PaymentFlag)).all()
    assert flag.code == "charge_unanswered"


def test_money_taken_for_a_canceled_charge_is_flagged_loudly(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portal.firms.models import MerchantAccount
    from portal.gateways.base import GatewayEvent
    from portal.payments import services as payments

    def down(self: SandboxGateway, *args: Any, **kw: Any) -> Any:
        raise TimeoutError("the processor is down")

    monkeypatch.setattr(SandboxGateway, "charge", down)
    (charge,) = pay(book, invoices={book.new.id: 25_000}).charges
    later = clock.now() + unanswered.GIVE_UP_AFTER
    monkeypatch.setattr(clock, "now", lambda: later)
    unanswered.settle_unanswered_charges()

    account = db.session.get(MerchantAccount, charge.merchant_account_id)
    assert account is not None
    event = GatewayEvent(
        "evt_late",
        "payment_intent.succeeded",
        "pi_late",
        charge.public_id,
        ChargeStatus.SUCCEEDED,
        clock.now(),
    )
    assert payments.apply_gateway_event(account, event) == "flagged: succeeded after canceled"
    codes = db.session.scalars(select(PaymentFlag.code).order_by(PaymentFlag.id)).all()
    assert codes == ["charge_unanswered", "paid_after_canceled"]
