"""Real threads against a committed database: one charge per submission, no overpayment.

Runs on SQLite (writers serialised by BEGIN IMMEDIATE) and, in CI's second pass, on
PostgreSQL (the unique key and the conditional UPDATE decide the races).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from portal.billing.models import Invoice
from portal.db import db
from portal.gateways.models import SandboxIntent
from portal.links.models import Link
from portal.payments import allocation
from portal.payments import services as payments
from portal.payments.models import Allocation, Charge, ChargeStatus, Payment, PaymentMethod
from tests import factories
from tests.payments.conftest import VISA

THREADS = 8


def _seed(app: Flask, total_minor: int) -> tuple[str, int]:
    with app.app_context():
        firm = factories.firm_with_key("Race & Race LLP")
        person = factories.client(firm)
        invoice = factories.invoice(factories.matter(person), total_minor=total_minor)
        link = factories.link(person)
        db.session.commit()
        return link.public_id, invoice.id


def _race(app: Flask, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(n)` in THREADS threads released together; return results or exceptions."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def run(n: int) -> None:
        with app.app_context():
            barrier.wait(timeout=30)
            try:
                results[n] = work(n)
            except Exception as exc:
                results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


def _pay(public_id: str, invoice_id: int, amount: int, key: str) -> str:
    link = db.session.scalar(select(Link).where(Link.public_id == public_id))
    payment = payments.start_payment(
        link=link,
        basket=allocation.Basket(invoices={invoice_id: amount}),
        method=PaymentMethod.CARD,
        instrument=VISA,
        idempotency_key=key,
        payer=payments.Payer("Racer", None, "203.0.113.5", "threads"),
    )
    return payment.public_id


def test_double_submit_from_many_threads_charges_once(committed_app: Flask) -> None:
    # given
    link_id, invoice_id = _seed(committed_app, 100_000)
    # when the same submission arrives from eight threads at once
    results = _race(committed_app, lambda n: _pay(link_id, invoice_id, 40_000, "same-click"))
    # then every thread got the one payment, and the processor saw one charge
    assert all(isinstance(r, str) for r in results), results
    assert len(set(results)) == 1
    with committed_app.app_context():
        assert db.session.scalar(select(func.count(Payment.id))) == 1
        assert db.session.scalar(select(func.count(SandboxIntent.id))) == 1
        assert db.session.get(Invoice, invoice_id).balance_due_minor == 60_000


def test_racing_partial_payments_cannot_overpay(committed_app: Flask) -> None:
    # given an invoice of 1,000.00
    link_id, invoice_id = _seed(committed_app, 100_000)
    # when eight tabs each try to pay 600.00 of it at once
    results = _race(committed_app, lambda n: _pay(link_id, invoice_id, 60_000, f"tab-{n}"))
    # then exactly one succeeded and the others were told the invoice changed
    paid = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, allocation.AllocationError)]
    assert len(paid) == 1 and len(refused) == THREADS - 1, results
    with committed_app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        assert invoice.balance_due_minor == 40_000 and invoice.reserved_minor == 0
        settled = db.session.scalar(
            select(func.sum(Allocation.amount_minor))
            .join(Charge)
            .where(Charge.status == ChargeStatus.SUCCEEDED)
        )
        assert settled == 60_000
        assert db.session.scalar(select(func.count(SandboxIntent.id))) == 1


def test_racing_refunds_with_one_key_refund_once(committed_app: Flask) -> None:
    # given a paid invoice
    link_id, invoice_id = _seed(committed_app, 100_000)
    with committed_app.app_context():
        payment_id = _pay(link_id, invoice_id, 100_000, "paid")
        firm_id = db.session.scalar(select(Payment.firm_id))

    # when the same refund request arrives in eight threads at once
    def refund(n: int) -> list[str]:
        refunds = payments.refund_payment(
            firm_id=firm_id,
            payment_public_id=payment_id,
            lines=None,
            idempotency_key="refund-once",
        )
        return [r.public_id for r in refunds]

    results = _race(committed_app, refund)
    # then every thread got the same single refund and the money went back once
    assert all(isinstance(r, list) for r in results), results
    assert len({tuple(r) for r in results}) == 1
    with committed_app.app_context():
        (charge,) = db.session.scalars(select(Charge)).all()
        assert charge.refunded_minor == 100_000
        assert charge.status is ChargeStatus.REFUNDED
        assert db.session.get(Invoice, invoice_id).balance_due_minor == 100_000


def test_links_opened_at_once_never_fail(committed_app: Flask) -> None:
    """Opening a link writes (it records the opening) from a GET; under SQLite that view must
    take the write lock up front, or a concurrent writer makes it fail instead of wait."""
    from portal.links import services as links

    # given many clients, each with a link
    with committed_app.app_context():
        firm = factories.firm_with_key("Open & Open LLP")
        tokens = [links.token_for(factories.link(factories.client(firm))) for _ in range(40)]
        db.session.commit()

    # when eight browsers open them all at the same time, each link several times (from one
    # address, so the abuse limit is raised out of the way: this test is about the database)
    committed_app.config["RATELIMIT_LINK_OPEN"] = "10000 per minute"

    def open_all(n: int) -> list[int]:
        client = committed_app.test_client()
        return [client.get(f"/l/{tokens[(n * 5 + i) % 40]}").status_code for i in range(30)]

    results = _race(committed_app, open_all)
    # then every opening redirected; none failed
    assert all(isinstance(r, list) for r in results), results
    assert {code for codes in results for code in codes} == {303}
