"""A payment's console page lists its postings with each delivery attempt (status code, time,
error) and replays a failed one through the Postings page's use case."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import select

from portal import clock
from portal.db import db
from portal.payments.models import Payment
from portal.postings.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    MessageStatus,
    OutboundMessage,
)
from tests import factories
from tests.api.payment_books import make_book
from tests.clocks import Clock
from tests.console.conftest import Console, Person
from tests.console.test_postings import _endpoint
from tests.payments.conftest import Book, pay


@pytest.fixture
def book(firm: factories.FirmWithKey, frozen_clock: Clock) -> Book:
    firm.firm.auto_post = False
    return make_book(firm)


@pytest.fixture
def loopback(app: Flask) -> Flask:
    app.config.update(WEBHOOK_ALLOW_PRIVATE_TARGETS=True, WEBHOOK_TIMEOUT_SECONDS=1)
    return app


def _message(payment: Payment) -> OutboundMessage:
    message = db.session.scalar(
        select(OutboundMessage)
        .where(OutboundMessage.payment_id == payment.id)
        .order_by(OutboundMessage.id.desc())
    )
    assert message is not None
    return message


def _failed(book: Book, firm: factories.FirmWithKey) -> tuple[Payment, OutboundMessage]:
    """A payment whose posting failed: two attempts, a 500 then no answer at all."""
    payment = pay(book, invoices={book.old.id: 10_000})
    message = _message(payment)
    endpoint = _endpoint(firm)
    now = clock.now()
    message.status = MessageStatus.FAILED
    message.released_at = now
    delivery = Delivery(
        message_id=message.id,
        endpoint_id=endpoint.id,
        status=DeliveryStatus.FAILED,
        attempts=2,
        next_attempt_at=now,
    )
    db.session.add(delivery)
    db.session.flush()
    for minutes, code, error in ((1, 500, None), (6, None, "Connection refused")):
        db.session.add(
            DeliveryAttempt(
                delivery_id=delivery.id,
                attempted_at=now + dt.timedelta(minutes=minutes),
                worker="w1",
                status_code=code,
                error=error,
                latency_ms=12,
                response_excerpt="",
            )
        )
    db.session.flush()
    db.session.expire(message)
    return payment, message


def test_the_page_shows_each_attempt_and_replays_a_failed_posting(
    console: Console,
    staffer: Person,
    book: Book,
    firm: factories.FirmWithKey,
    loopback: Flask,
) -> None:
    payment, message = _failed(book, firm)
    console.sign_in_as(staffer)
    path = f"/console/payments/{payment.public_id}"

    html = console.get(path).get_data(as_text=True)

    assert f'id="posting-{message.public_id}" data-status="failed"' in html
    assert "<td>500</td>" in html
    assert "<td>No answer</td>" in html and "Connection refused" in html
    assert html.count("data-attempt=") == 2
    replay = f"{path}/postings/{message.public_id}/replay"
    assert f'action="{replay}"' in html

    response = console.post(replay, {}, form_page=path)

    assert response.status_code == 303
    assert response.headers["Location"] == f"{path}#postings"
    db.session.refresh(message)
    assert message.status is MessageStatus.PENDING
    after = console.get(path).get_data(as_text=True)
    assert "queued again for 1 endpoint(s)" in after
    assert f'action="{replay}"' not in after


def test_a_held_posting_points_to_release_and_is_not_replayed(
    console: Console, staffer: Person, book: Book
) -> None:
    payment = pay(book, invoices={book.old.id: 10_000})
    message = _message(payment)
    assert message.status is MessageStatus.HELD
    console.sign_in_as(staffer)
    path = f"/console/payments/{payment.public_id}"

    html = console.get(path).get_data(as_text=True)

    assert "Held: release it on the Postings page." in html
    assert "/replay" not in html
    refused = console.post(f"{path}/postings/{message.public_id}/replay", {}, form_page=path)
    assert refused.status_code == 409


def test_another_payments_or_firms_posting_is_not_found(
    console: Console,
    staffer: Person,
    book: Book,
    firm: factories.FirmWithKey,
    other_firm: factories.FirmWithKey,
    loopback: Flask,
) -> None:
    payment, message = _failed(book, firm)
    other = pay(book, invoices={book.new.id: 10_000})
    theirs = make_book(other_firm)
    their_payment = pay(theirs, invoices={theirs.old.id: 10_000})
    console.sign_in_as(staffer)

    wrong_payment = f"/console/payments/{other.public_id}/postings/{message.public_id}/replay"
    wrong_firm = f"/console/payments/{their_payment.public_id}/postings/{message.public_id}/replay"
    their_message = (
        f"/console/payments/{payment.public_id}/postings/{_message(their_payment).public_id}/replay"
    )
    for path in (wrong_payment, wrong_firm, their_message):
        response = console.post(path, {}, form_page=f"/console/payments/{payment.public_id}")
        assert response.status_code == 404, path
    db.session.refresh(message)
    assert message.status is MessageStatus.FAILED
    assert _message(their_payment).public_id not in console.get(
        f"/console/payments/{payment.public_id}"
    ).get_data(as_text=True)
