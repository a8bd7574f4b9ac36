"""A processor's refund event that overtakes the portal's own refund (Stripe may send
`charge.refunded` before the refund request has recorded the answer) is not a refund made
outside the portal: no `refund_outside_portal` flag."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from portal import clock
from portal.db import db
from portal.firms.models import MerchantAccount
from portal.gateways.base import GatewayEvent
from portal.gateways.sandbox import SandboxGateway
from portal.payments import services as payments
from portal.payments.models import Charge, ChargeStatus, PaymentFlag
from tests.payments.conftest import Book, pay


def _event(charge: Charge, amount_minor: int, event_id: str) -> GatewayEvent:
    return GatewayEvent(
        event_id=event_id,
        type="charge.refunded",
        gateway_ref=None,
        charge_ref=charge.public_id,
        status=ChargeStatus.PARTIALLY_REFUNDED,
        occurred_at=clock.now(),
        amount_minor=amount_minor,
    )


def _apply(charge: Charge, amount_minor: int, event_id: str) -> str:
    account = db.session.get(MerchantAccount, charge.merchant_account_id)
    assert account is not None
    outcome = payments.apply_gateway_event(account, _event(charge, amount_minor, event_id))
    db.session.commit()  # as the hook's own request would
    return outcome


def test_an_event_arriving_before_the_refund_is_recorded_raises_no_flag(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a paid invoice; the processor's event arrives while the portal waits on its call
    payment = pay(book, invoices={book.new.id: 40_000})
    (charge,) = payment.charges
    outcomes: list[str] = []
    real_refund = SandboxGateway.refund

    def refund_and_send_the_event_first(self: SandboxGateway, *args: Any, **kw: Any) -> Any:
        outcomes.append(_apply(charge, 10_000, "evt_overtaking"))
        return real_refund(self, *args, **kw)

    monkeypatch.setattr(SandboxGateway, "refund", refund_and_send_the_event_first)

    # when
    payments.refund_payment(
        firm_id=book.client.firm_id,
        payment_public_id=payment.public_id,
        lines=[payments.RefundLine(charge.allocations[0].id, 10_000)],
        idempotency_key="overtaken",
    )

    # then
    assert outcomes == ["applied: refund in flight (recorded when the processor's answer is)"]
    assert db.session.scalars(select(PaymentFlag)).all() == []
    db.session.refresh(charge)
    assert charge.refunded_minor == 10_000
    assert _apply(charge, 10_000, "evt_late") == "applied: refund confirmed"


def test_a_refund_made_at_the_processor_alone_is_still_flagged(book: Book) -> None:
    payment = pay(book, invoices={book.new.id: 40_000})
    (charge,) = payment.charges
    assert _apply(charge, 5_000, "evt_outside") == "flagged: refund outside portal"
    (flag,) = db.session.scalars(select(PaymentFlag)).all()
    assert (flag.code, flag.charge_id) == ("refund_outside_portal", charge.id)
