"""Refunds racing under different idempotency keys, in real threads on a committed database.

Eight requests are released together by a barrier. On PostgreSQL (CI's second pass) only the
row locks taken by `refund_payment` keep them apart; on SQLite the writers are serialised by
BEGIN IMMEDIATE, and the tests check that the pending refunds recorded before each gateway
call are counted by the next request.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from portal.billing.models import Invoice
from portal.db import db
from portal.errors import ValidationFailed
from portal.gateways.models import SandboxIntent
from portal.ledger import services as ledger
from portal.links.models import Link
from portal.payments import allocation
from portal.payments import services as payments
from portal.payments.models import (
    Allocation,
    Charge,
    ChargeStatus,
    Payment,
    PaymentFlag,
    PaymentMethod,
    Refund,
)
from tests import factories
from tests.flows.test_concurrency import THREADS, _race
from tests.payments.conftest import VISA


def _pay(link: Link, basket: allocation.Basket, key: str) -> Payment:
    return payments.start_payment(
        link=link,
        basket=basket,
        method=PaymentMethod.CARD,
        instrument=VISA,
        idempotency_key=key,
        payer=payments.Payer("Racer", None, "203.0.113.5", "threads"),
    )


def _paid_invoice(app: Flask, amount_minor: int) -> tuple[int, str, int, int]:
    """A paid invoice: (firm id, payment public id, allocation id, invoice id)."""
    with app.app_context():
        firm = factories.firm_with_key("Refund Race LLP")
        person = factories.client(firm)
        invoice = factories.invoice(factories.matter(person), total_minor=amount_minor)
        link = factories.link(person)
        db.session.commit()
        payment = _pay(link, allocation.Basket(invoices={invoice.id: amount_minor}), "paid")
        (line,) = payment.charges[0].allocations
        return firm.id, payment.public_id, line.id, invoice.id


def _refund(firm_id: int, payment_id: str, key: str, lines=None) -> list[str]:
    refunds = payments.refund_payment(
        firm_id=firm_id, payment_public_id=payment_id, lines=lines, idempotency_key=key
    )
    return [refund.public_id for refund in refunds]


def _split(results: list[object]) -> tuple[list[object], list[object]]:
    done = [r for r in results if isinstance(r, list)]
    refused = [r for r in results if isinstance(r, ValidationFailed)]
    assert len(done) + len(refused) == THREADS, results
    return done, refused


def test_racing_full_refunds_under_different_keys_refund_once(committed_app: Flask) -> None:
    # given a $500.00 card payment
    firm_id, payment_id, _line, invoice_id = _paid_invoice(committed_app, 50_000)

    # when eight refunds of everything arrive at once, each under its own key
    results = _race(committed_app, lambda n: _refund(firm_id, payment_id, f"all-{n}"))

    # then one refunded it and the others were told nothing is left
    done, refused = _split(results)
    assert len(done) == 1 and len(refused) == THREADS - 1, results
    with committed_app.app_context():
        (charge,) = db.session.scalars(select(Charge)).all()
        assert (charge.refunded_minor, charge.status) == (50_000, ChargeStatus.REFUNDED)
        assert db.session.scalar(select(SandboxIntent.refunded_minor)) == 50_000
        assert db.session.scalar(select(func.count(Refund.id))) == 1
        assert db.session.get(Invoice, invoice_id).balance_due_minor == 50_000


def test_racing_partial_refunds_cannot_exceed_the_allocation(committed_app: Flask) -> None:
    # given a $300.00 allocation
    firm_id, payment_id, line_id, invoice_id = _paid_invoice(committed_app, 30_000)

    # when eight refunds of $200.00 of it arrive at once
    results = _race(
        committed_app,
        lambda n: _refund(firm_id, payment_id, f"part-{n}", [payments.RefundLine(line_id, 20_000)]),
    )

    # then exactly one went through
    done, refused = _split(results)
    assert len(done) == 1 and len(refused) == THREADS - 1, results
    with committed_app.app_context():
        assert db.session.get(Allocation, line_id).refunded_minor == 20_000
        assert db.session.scalar(select(Charge.refunded_minor)) == 20_000
        assert db.session.scalar(select(SandboxIntent.refunded_minor)) == 20_000
        assert db.session.get(Invoice, invoice_id).balance_due_minor == 20_000


def test_racing_small_refunds_lose_no_update(committed_app: Flask) -> None:
    # given a $1,000.00 allocation
    firm_id, payment_id, line_id, invoice_id = _paid_invoice(committed_app, 100_000)

    # when eight refunds of $100.00 arrive at once: all fit
    results = _race(
        committed_app,
        lambda n: _refund(firm_id, payment_id, f"ten-{n}", [payments.RefundLine(line_id, 10_000)]),
    )

    # then every one is counted, on the allocation, the charge and the invoice
    done, _refused = _split(results)
    assert len(done) == THREADS, results
    with committed_app.app_context():
        assert db.session.get(Allocation, line_id).refunded_minor == THREADS * 10_000
        charge = db.session.scalars(select(Charge)).one()
        assert charge.refunded_minor == THREADS * 10_000
        assert charge.status is ChargeStatus.PARTIALLY_REFUNDED
        assert db.session.get(Invoice, invoice_id).balance_due_minor == THREADS * 10_000


def test_racing_trust_refunds_never_take_a_matter_below_zero(committed_app: Flask) -> None:
    # given eight $50.00 trust deposits into one matter, of which the firm has since disbursed
    # all but $50.00
    with committed_app.app_context():
        firm = factories.firm_with_key("Trust Race LLP")
        person = factories.client(firm)
        matter = factories.matter(person)
        link = factories.link(person)
        db.session.commit()
        deposits = [
            _pay(link, allocation.Basket(trust_deposits={matter.id: 5_000}), f"dep-{n}")
            for n in range(THREADS)
        ]
        factories.trust_entry(matter, -5_000 * (THREADS - 1))
        db.session.commit()
        firm_id, matter_id = firm.id, matter.id
        assert ledger.trust_balance(matter_id) == 5_000
        paid = [(p.public_id, p.charges[0].allocations[0].id) for p in deposits]

    # when each deposit is refunded at the same moment
    results = _race(
        committed_app,
        lambda n: _refund(
            firm_id, paid[n][0], f"back-{n}", [payments.RefundLine(paid[n][1], 5_000)]
        ),
    )

    # then only the $50.00 still in trust went back: the balance is zero, never below
    done, refused = _split(results)
    assert len(done) == 1 and len(refused) == THREADS - 1, results
    assert all("trust balance" in str(r) for r in refused), refused
    with committed_app.app_context():
        assert ledger.trust_balance(matter_id) == 0
        assert db.session.scalar(select(func.sum(SandboxIntent.refunded_minor))) == 5_000
        assert db.session.scalar(select(func.count(PaymentFlag.id))) == 0
