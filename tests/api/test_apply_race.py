"""Two (or four) people applying one unmatched payment at the same moment apply it once.

Real threads with their own connections, so these use the shared committed database
(`committed_app` in tests/conftest.py), emptied before each test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.billing.models import Invoice
from portal.db import db
from portal.payments.models import Allocation, PaymentFlag
from portal.postings.models import OutboundMessage
from tests import factories
from tests.api.payment_books import make_book
from tests.api.unmatched_books import public_payment

THREADS = 4


@pytest.fixture
def race(committed_app: Flask) -> Iterator[tuple[Flask, str, str]]:
    """The committed app, a firm's key, and one of its unmatched payments ($250.00)."""
    with committed_app.app_context():
        with db.transaction():
            firm = factories.firm_with_key("Race & Co")
            make_book(firm)
        payment_id = public_payment(firm.firm, "NOT-AN-INVOICE", 25_000).public_id
        db.session.commit()
        yield committed_app, firm.key, payment_id


def _together(app: Flask, bodies: list[dict[str, str]], key: str, payment_id: str) -> list[Any]:
    """POST each body to the apply route from its own thread, all released at once."""
    start = threading.Barrier(len(bodies))

    def run(body: dict[str, str]) -> Any:
        with app.app_context():
            http = app.test_client()
            start.wait()
            return http.post(
                f"/api/v1/payments/{payment_id}/apply",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
            )

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(run, bodies))


def _counts(app: Flask) -> tuple[int, int, int, int, int]:
    with app.app_context():
        allocations = db.session.scalar(select(func.count()).select_from(Allocation))
        postings = db.session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.type == "payment.applied")
        )
        audits = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "payment.apply")
        )
        open_flags = db.session.scalar(
            select(func.count()).select_from(PaymentFlag).where(PaymentFlag.resolved_at.is_(None))
        )
        paid = db.session.scalar(select(func.sum(Invoice.total_minor - Invoice.balance_due_minor)))
        return allocations, postings, audits, open_flags, int(paid or 0)


def test_the_same_apply_sent_at_once_applies_once(race: tuple[Flask, str, str]) -> None:
    # given
    app, key, payment_id = race

    # when
    responses = _together(app, [{"invoice": "INV-OLD"}] * THREADS, key, payment_id)

    # then: every caller sees the payment applied; it was applied once
    assert [r.status_code for r in responses] == [200] * THREADS, [r.get_json() for r in responses]
    assert _counts(app) == (1, 1, 1, 0, 25_000)


def test_different_targets_at_once_one_wins(race: tuple[Flask, str, str]) -> None:
    # given
    app, key, payment_id = race
    bodies = [{"invoice": "INV-OLD"}, {"invoice": "INV-NEW"}] * (THREADS // 2)

    # when
    responses = _together(app, bodies, key, payment_id)

    # then
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 409, 409], [r.get_json() for r in responses]
    winners = {
        body["invoice"] for body, r in zip(bodies, responses, strict=True) if r.status_code == 200
    }
    assert len(winners) == 1
    assert _counts(app) == (1, 1, 1, 0, 25_000)
