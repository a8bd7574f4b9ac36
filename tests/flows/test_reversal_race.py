"""Two disputes on one matter at once: the second sees the first and flags the shortfall.

Each reversal alone leaves the matter's trust balance at zero or above; together they take it
below zero. Without the matter's trust lock each would read the balance without the other's
uncommitted entry, and the negative balance would go unflagged. The first dispute pauses
after appending its reversal and reading the balance; the second must wait for it rather than
read past it.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal import clock
from portal.db import db
from portal.gateways.base import GatewayEvent
from portal.ledger import services as ledger
from portal.payments import allocation, transitions
from portal.payments import services as payments
from portal.payments.models import ChargeStatus, PaymentFlag, PaymentMethod
from tests import factories
from tests.payments.conftest import VISA


def _seed(app: Flask) -> tuple[int, int, list[tuple[int, str]]]:
    with app.app_context():
        firm = factories.firm_with_key("Reversal & Race LLP")
        person = factories.client(firm)
        matter = factories.matter(person)
        link = factories.link(person)
        charges = []
        for n in range(2):
            payment = payments.start_payment(
                link=link,
                basket=allocation.Basket(invoices={}, trust_deposits={matter.id: 100_000}),
                method=PaymentMethod.CARD,
                instrument=VISA,
                idempotency_key=f"deposit-{n}",
                payer=payments.Payer(
                    name="Ada", email="ada@example.com", ip="203.0.113.9", user_agent="pytest"
                ),
                mandate_text=None,
            )
            (charge,) = payment.charges
            charges.append((charge.merchant_account_id, charge.public_id))
        factories.trust_entry(matter, -50_000, description="Filing fee")
        db.session.commit()
        assert ledger.trust_balance(matter.id) == 150_000
        return firm.firm.id, matter.id, charges


def _dispute(app: Flask, account_id: int, charge_ref: str) -> Any:
    with app.app_context():
        event = GatewayEvent(
            f"evt_{charge_ref}", "dispute", None, charge_ref, ChargeStatus.DISPUTED, clock.now()
        )
        return payments.apply_gateway_events(account_id, [event])


def test_racing_reversals_on_one_matter_flag_the_shortfall(
    committed_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    firm_id, matter_id, charges = _seed(committed_app)
    first_appended = threading.Event()
    second_done = threading.Event()
    real_balance = transitions.ledger.trust_balance

    def balance_then_a_pause(matter: int) -> int:
        balance = real_balance(matter)
        if threading.current_thread().name == "first":
            first_appended.set()
            # Hold the first reversal open (read, not committed) while the second tries to run.
            second_done.wait(timeout=1.5)
        return balance

    monkeypatch.setattr(transitions.ledger, "trust_balance", balance_then_a_pause)
    results: dict[str, Any] = {}

    def run(name: str, account_id: int, ref: str) -> None:
        try:
            results[name] = _dispute(committed_app, account_id, ref)
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            results[name] = exc
        if name == "second":
            second_done.set()

    first = threading.Thread(target=run, args=("first", *charges[0]), name="first")
    first.start()
    assert first_appended.wait(timeout=30)
    second = threading.Thread(target=run, args=("second", *charges[1]), name="second")
    second.start()
    first.join(timeout=60)
    second.join(timeout=60)
    assert results == {"first": ["applied"], "second": ["applied"]}

    with committed_app.app_context():
        assert ledger.trust_balance(matter_id) == -50_000
        flags = db.session.scalars(
            select(PaymentFlag.code).where(
                PaymentFlag.firm_id == firm_id, PaymentFlag.matter_id == matter_id
            )
        ).all()
        assert flags == ["trust_below_zero"]
