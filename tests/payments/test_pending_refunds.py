"""A refund the processor did not answer, or answered "pending", is asked about again later
and counted exactly once; one that ends failed gives its amount back and is flagged."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.db import db
from portal.gateways.base import RefundResult
from portal.gateways.models import SandboxIntent, SandboxRefund
from portal.gateways.sandbox import SandboxGateway
from portal.ledger import services as ledger
from portal.payments import services as payments
from portal.payments import unanswered
from portal.payments.models import Charge, ChargeStatus, PaymentFlag, Refund
from tests.payments.conftest import Book, pay

NOW = dt.timedelta(0)


def _refund(payment: Any, amount: int, key: str) -> Refund:
    (charge,) = payment.charges
    (refund,) = payments.refund_payment(
        firm_id=charge.firm_id,
        payment_public_id=payment.public_id,
        lines=[payments.RefundLine(charge.allocations[0].id, amount)],
        idempotency_key=key,
    )
    return refund


def _sandbox_refunded(charge: Charge) -> int:
    intent = db.session.scalar(
        select(SandboxIntent).where(SandboxIntent.intent_id == charge.gateway_ref)
    )
    assert intent is not None
    db.session.refresh(intent)
    return intent.refunded_minor


def test_a_refund_whose_answer_was_lost_is_made_once_on_the_next_round(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the processor makes the trust refund, but its answer never reaches the portal
    payment = pay(book, trust={book.matter.id: 30_000})
    (charge,) = payment.charges
    before = ledger.trust_balance(book.matter.id)
    real_refund = SandboxGateway.refund

    def refund_then_drop_the_answer(self: SandboxGateway, *args: Any, **kw: Any) -> Any:
        real_refund(self, *args, **kw)
        raise ConnectionError("the answer was lost")

    monkeypatch.setattr(SandboxGateway, "refund", refund_then_drop_the_answer)

    # when the firm refunds: no error for the firm, the refund waits as pending
    refund = _refund(payment, 10_000, "lost-answer")
    assert refund.status == "pending"
    db.session.refresh(charge)
    assert charge.refunded_minor == 0
    assert ledger.trust_balance(book.matter.id) == before

    # when the worker asks again (the processor answers now)
    monkeypatch.setattr(SandboxGateway, "refund", real_refund)
    settled = unanswered.settle_pending_refunds(older_than=NOW)

    # then: made once at the processor, counted once in the portal
    assert settled == [unanswered.Settled(refund.public_id, "succeeded")]
    assert _sandbox_refunded(charge) == 10_000
    assert db.session.scalar(select(func.count()).select_from(SandboxRefund)) == 1
    db.session.refresh(charge)
    assert (charge.refunded_minor, charge.status) == (10_000, ChargeStatus.PARTIALLY_REFUNDED)
    assert ledger.trust_balance(book.matter.id) == before - 10_000
    assert unanswered.settle_pending_refunds(older_than=NOW) == []


def test_a_pending_refund_is_counted_when_the_processor_says_it_succeeded(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = pay(book, invoices={book.new.id: 40_000})
    (charge,) = payment.charges
    real_refund = SandboxGateway.refund

    def answer_pending(self: SandboxGateway, *args: Any, **kw: Any) -> RefundResult:
        made = real_refund(self, *args, **kw)
        return RefundResult(gateway_ref=made.gateway_ref, status="pending")

    monkeypatch.setattr(SandboxGateway, "refund", answer_pending)
    refund = _refund(payment, 15_000, "bank-days")
    assert refund.status == "pending" and refund.gateway_ref
    db.session.refresh(charge)
    assert charge.refunded_minor == 0

    # a round too early asks nothing; a due one fetches the refund by its reference
    assert unanswered.settle_pending_refunds(older_than=dt.timedelta(hours=1)) == []
    assert unanswered.settle_pending_refunds(older_than=NOW) == [
        unanswered.Settled(refund.public_id, "succeeded")
    ]
    db.session.refresh(charge)
    assert charge.refunded_minor == 15_000


def test_a_refund_that_ends_failed_releases_its_amount_and_is_flagged(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = pay(book, invoices={book.new.id: 40_000})

    def no_answer(self: SandboxGateway, *args: Any, **kw: Any) -> Any:
        raise TimeoutError("the processor is down")

    def ends_failed(self: SandboxGateway, *args: Any, **kw: Any) -> RefundResult:
        return RefundResult(gateway_ref="", status="failed")

    monkeypatch.setattr(SandboxGateway, "refund", no_answer)
    refund = _refund(payment, 40_000, "down")
    # still down on the first round: the refund stays pending
    assert unanswered.settle_pending_refunds(older_than=NOW) == []
    monkeypatch.setattr(SandboxGateway, "refund", ends_failed)
    assert unanswered.settle_pending_refunds(older_than=NOW) == [
        unanswered.Settled(refund.public_id, "failed")
    ]
    (flag,) = db.session.scalars(select(PaymentFlag)).all()
    assert flag.code == "refund_failed" and refund.public_id in flag.detail
    # the amount is no longer held: the whole payment can be refunded again
    monkeypatch.undo()
    again = _refund(payment, 40_000, "again")
    assert again.status == "succeeded"


def test_the_sandbox_answers_a_repeated_refund_key_with_the_first_refund(book: Book) -> None:
    payment = pay(book, invoices={book.new.id: 40_000})
    (charge,) = payment.charges
    gateway = SandboxGateway(charge.merchant_account_id)
    first = gateway.refund(charge.gateway_ref or "", 5_000, idempotency_key="refund:same")
    second = gateway.refund(charge.gateway_ref or "", 5_000, idempotency_key="refund:same")
    assert first.gateway_ref == second.gateway_ref and second.status == "succeeded"
    assert _sandbox_refunded(charge) == 5_000
    assert gateway.fetch_refund(first.gateway_ref).status == "succeeded"
