"""A card charge left waiting for the payer's bank (3-D Secure) is canceled at the processor an
hour on, which gives its reserved balances back: otherwise the invoice could never be paid
again in full. A bank debit waiting for micro-deposits is left alone (they take days); a
charge the payer finished just before the cancel keeps what the processor says."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from portal import clock
from portal.billing.models import Invoice
from portal.db import db
from portal.gateways.base import Instrument
from portal.gateways.models import SandboxIntent
from portal.gateways.sandbox import SandboxGateway
from portal.payments import unanswered
from portal.payments.models import ChargeStatus, PaymentMethod
from tests.payments.conftest import ACH_OK, Book, pay

ASKS_THE_BANK = Instrument(card_number="4000002760003184", card_expiry="12/40", card_cvc="123")


def _available(invoice: Invoice) -> int:
    db.session.refresh(invoice)
    return invoice.balance_due_minor - invoice.reserved_minor


def _an_hour_on(monkeypatch: pytest.MonkeyPatch) -> None:
    later = clock.now() + unanswered.ABANDONED_AFTER
    monkeypatch.setattr(clock, "now", lambda: later)


def test_an_abandoned_authentication_is_canceled_and_its_balance_freed(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = pay(book, invoices={book.new.id: 80_000}, instrument=ASKS_THE_BANK)
    (charge,) = payment.charges
    assert charge.status is ChargeStatus.CREATED and charge.gateway_ref
    assert _available(book.new) == 0  # all of it held while the payer is at their bank

    # not abandoned yet: the payer may still be typing the bank's code
    assert unanswered.cancel_abandoned_authentications() == []
    _an_hour_on(monkeypatch)
    assert unanswered.cancel_abandoned_authentications() == [
        unanswered.Settled(charge.public_id, "canceled")
    ]
    db.session.refresh(charge)
    assert charge.status is ChargeStatus.CANCELED
    assert _available(book.new) == 80_000
    intent = db.session.scalars(
        select(SandboxIntent).where(SandboxIntent.intent_id == charge.gateway_ref)
    ).one()
    assert intent.status == "canceled"  # at the processor too: it can never be finished
    # asked again, nothing more happens; and the invoice can be paid in full again
    assert unanswered.cancel_abandoned_authentications() == []
    again = pay(book, invoices={book.new.id: 80_000})
    assert {c.status for c in again.charges} == {ChargeStatus.SUCCEEDED}


def test_the_payers_late_answer_and_the_cancel_move_it_once(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = pay(book, invoices={book.new.id: 25_000}, instrument=ASKS_THE_BANK)
    (charge,) = payment.charges
    # the payer approves at the bank just before the sweep's cancel reaches the processor
    gateway = SandboxGateway(charge.merchant_account_id)
    gateway.authenticate(charge.gateway_ref or "", approved=True)
    db.session.commit()
    _an_hour_on(monkeypatch)

    assert unanswered.cancel_abandoned_authentications() == [
        unanswered.Settled(charge.public_id, "succeeded")
    ]
    db.session.refresh(charge)
    assert charge.status is ChargeStatus.SUCCEEDED
    assert _available(book.new) == 80_000 - 25_000


def test_a_bank_debit_waiting_for_micro_deposits_is_not_abandoned(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = pay(book, invoices={book.new.id: 25_000}, method=PaymentMethod.ACH, instrument=ACH_OK)
    (charge,) = payment.charges
    # as Stripe leaves a typed bank account: created, with its PaymentIntent, for days
    charge.status = ChargeStatus.CREATED
    db.session.commit()
    days_on = clock.now() + dt.timedelta(days=3)
    monkeypatch.setattr(clock, "now", lambda: days_on)

    assert unanswered.cancel_abandoned_authentications() == []
    db.session.refresh(charge)
    assert charge.status is ChargeStatus.CREATED


def test_settle_all_includes_it(book: Book, monkeypatch: pytest.MonkeyPatch) -> None:
    payment = pay(book, invoices={book.new.id: 25_000}, instrument=ASKS_THE_BANK)
    _an_hour_on(monkeypatch)
    assert unanswered.Settled(payment.charges[0].public_id, "canceled") in unanswered.settle_all()
