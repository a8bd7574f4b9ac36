"""The same firm-initiated payment sent four times at once charges once.

Real threads with their own connections, so these use the shared committed database
(`committed_app` in tests/conftest.py), emptied before each test. On PostgreSQL the four
requests really overlap; the payments' unique (firm, idempotency key) decides.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.billing.models import Invoice
from portal.db import db
from portal.gateways.models import SandboxIntent
from portal.payments.models import Charge, Payment
from tests import factories
from tests.api.payment_books import make_book
from tests.payers.helpers import saved_for

THREADS = 4


@pytest.fixture
def race(committed_app: Flask) -> Iterator[tuple[Flask, str, dict[str, Any]]]:
    """The committed app, a firm's key, and a request body charging a saved card."""
    with committed_app.app_context():
        with db.transaction():
            firm = factories.firm_with_key("Race & Co")
            book = make_book(firm)
        method = saved_for(book.client)
        body = {
            "client": "C-1",
            "payer": method.payer.public_id,
            "payment_method": method.public_id,
            "lines": [
                {"invoice": "INV-OLD", "amount": 120_000},
                {"matter": "M-1", "trust_amount": 30_000},
            ],
        }
        db.session.commit()
        yield committed_app, firm.key, body


def test_the_same_payment_sent_at_once_charges_once(
    race: tuple[Flask, str, dict[str, Any]],
) -> None:
    # given
    app, key, body = race
    start = threading.Barrier(THREADS)

    def run(_: int) -> Any:
        with app.app_context():
            http = app.test_client()
            start.wait()
            return http.post(
                "/api/v1/payments",
                json=body,
                headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "same-key"},
            )

    # when
    with ThreadPoolExecutor(THREADS) as pool:
        responses = list(pool.map(run, range(THREADS)))

    # then
    assert all(r.status_code in (200, 201) for r in responses), [r.get_json() for r in responses]
    assert len({r.get_json()["id"] for r in responses}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Payment)) == 1
        assert db.session.scalar(select(func.count()).select_from(Charge)) == 2
        assert db.session.scalar(select(func.count()).select_from(SandboxIntent)) == 2
        paid = db.session.scalar(
            select(Invoice.balance_due_minor).where(Invoice.number == "INV-OLD")
        )
        assert paid == 0
