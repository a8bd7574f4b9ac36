"""Postings end to end in one process: queue with the payment, deliver over real HTTP, retry.

Every request reaches a real receiver on 127.0.0.1 that verifies it with the
`standardwebhooks` library; time moves only through the `clock` fixture.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from portal import clock as portal_clock
from portal.db import db
from portal.errors import ValidationFailed
from portal.firms.models import Firm
from portal.payments import postings as payment_postings
from portal.payments import services as payments
from portal.payments.models import ChargeStatus, Payment, PaymentMethod
from portal.postings import endpoints, network, outbox, payloads, recording, sending
from portal.postings.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    MessageStatus,
    OutboundMessage,
)
from tests.payments.conftest import ACH_OK, Book, pay, settle_ach
from tests.postings.conftest import (
    Clock,
    Receiver,
    Reply,
    add_endpoint,
    deliver_all,
    ensure_posted,
    free_port,
)

pytestmark = pytest.mark.usefixtures("webhook_settings")
S = ChargeStatus


def _paid(book: Book, **kw) -> Payment:
    """A card payment that succeeded, with its postings queued."""
    payment = pay(book, **kw)
    for charge in payment.charges:
        assert charge.status is S.SUCCEEDED
        ensure_posted(charge, before=S.CREATED, to=S.SUCCEEDED)
    return payment


def _messages(payment: Payment) -> list[OutboundMessage]:
    return list(
        db.session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.payment_id == payment.id)
            .order_by(OutboundMessage.sequence)
        )
    )


def _delivery(message: OutboundMessage) -> Delivery:
    return db.session.scalars(select(Delivery).where(Delivery.message_id == message.id)).one()


def _attempts(delivery: Delivery) -> list[DeliveryAttempt]:
    return list(
        db.session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery.id)
            .order_by(DeliveryAttempt.id)
        )
    )


# -- what a posting says ---------------------------------------------------------------------


def test_a_card_payment_posts_once_with_everything_the_back_office_needs(
    session, firm, book: Book, receiver: Receiver, clock: Clock
) -> None:
    # given a firm with one endpoint
    add_endpoint(firm.firm, receiver)
    # when a client pays an invoice and a trust deposit, and the worker runs twice
    payment = _paid(book, invoices={book.old.id: 120_000}, trust={book.matter.id: 50_000})
    assert deliver_all() == 2
    assert deliver_all() == 0
    # then each charge was posted exactly once, verified by the library
    assert len(receiver.received) == 2
    assert all(item.accepted_by == receiver.secrets for item in receiver.received)
    bodies = {item.payload["data"]["account"]["kind"]: item for item in receiver.received}
    operating, trust = bodies["operating"], bodies["trust"]
    for item in (operating, trust):
        assert re.fullmatch(r"msg_[A-Za-z0-9]{20,}", item.msg_id)
        assert item.payload["id"] == item.msg_id
        assert item.payload["type"] == "payment.succeeded"
        assert item.payload["api_version"] == payloads.API_VERSION
        assert b"4242424242424242" not in item.body
        assert b"4242 4242" not in item.body
        assert len(item.body) < 20_000
    assert sorted(item.payload["sequence"] for item in receiver.received) == [1, 2]

    data = operating.payload["data"]
    charge = next(c for c in payment.charges if c.account_kind.value == "operating")
    assert data["payment_id"] == payment.public_id
    assert data["charge_id"] == charge.public_id
    assert data["client"]["external_id"] == book.client.external_id
    assert data["allocations"] == [
        {
            "kind": "invoice",
            "invoice": {"external_id": book.old.external_id, "number": "INV-OLD"},
            "matter": {"external_id": book.matter.external_id, "number": book.matter.number},
            "amount_minor": 120_000,
            "refunded_minor": 0,
        }
    ]
    assert data["account"] == {
        "kind": "operating",
        "label": "Operating account",
        "bank_account_code": "OPERATING",
        "ledger_code": "1000",
        "transaction_type": "Payment",
    }
    assert data["amount_minor"] == 120_000
    assert data["currency"] == "USD"
    assert data["method"] == {"type": "card", "brand": "visa", "last4": "4242"}
    assert data["payer"] == {"name": "Ada Client", "email": "ada@example.com"}
    assert data["ar_message"] == "Portal payment"
    today = clock().date().isoformat()
    assert data["transaction_date"] == data["posted_date"] == data["posting_date"] == today
    assert data["posting_date_basis"] == "transaction_date"
    assert isinstance(data["processing_fee"]["amount_minor"], int)
    assert data["processing_fee"]["borne_by"] == "operating"
    assert data["funds"]["available"] is True
    card_window = (clock() + dt.timedelta(days=120)).date().isoformat()
    assert data["funds"]["return_window_ends_on"] == card_window

    deposit = trust.payload["data"]
    assert deposit["allocations"] == [
        {
            "kind": "trust_deposit",
            "matter": {"external_id": book.matter.external_id, "number": book.matter.number},
            "amount_minor": 50_000,
            "refunded_minor": 0,
        }
    ]
    assert deposit["account"]["kind"] == "trust"
    assert deposit["account"]["ledger_code"] == "1010"
    # The fee of a trust deposit is still the firm's: it points at the operating account.
    assert deposit["processing_fee"]["account"]["kind"] == "operating"

    for message in _messages(payment):
        assert message.status is MessageStatus.DELIVERED
        (attempt,) = _attempts(_delivery(message))
        assert attempt.status_code == 200
        assert attempt.response_excerpt == "ok"


def test_firm_settings_choose_the_posted_date_and_the_ar_message(
    session, firm, book: Book, receiver: Receiver, clock: Clock
) -> None:
    firm.firm.use_posted_date = True
    firm.firm.ar_message = "Paid online"
    add_endpoint(firm.firm, receiver)
    payment = pay(book, invoices={book.old.id: 120_000})
    charge = payment.charges[0]
    # The bank credited the money two days after the payer paid.
    charge.settled_on = clock().date() + dt.timedelta(days=2)
    message = payment_postings.enqueue_for_charge(charge, "payment.succeeded", ar_note="check 1042")
    deliver_all()
    data = next(i for i in receiver.received if i.msg_id == message.public_id).payload["data"]
    assert data["posting_date"] == data["posted_date"] == charge.settled_on.isoformat()
    assert data["transaction_date"] == clock().date().isoformat()
    assert data["posting_date_basis"] == "posted_date"
    assert data["ar_message"] == "Paid online - check 1042"


def test_a_bank_debit_posts_processing_then_succeeded(
    session, firm, book: Book, receiver: Receiver, clock: Clock
) -> None:
    firm.firm.use_posted_date = True
    add_endpoint(firm.firm, receiver)
    payment = pay(
        book, invoices={book.old.id: 120_000}, method=PaymentMethod.ACH, instrument=ACH_OK
    )
    charge = payment.charges[0]
    assert charge.status is S.PROCESSING
    ensure_posted(charge, before=S.CREATED, to=S.PROCESSING)
    deliver_all()
    # Funds in flight are not available, and have no bank date yet.
    data = receiver.received[-1].payload["data"]
    assert receiver.received[-1].payload["type"] == "payment.processing"
    assert data["funds"] == {"available": False, "return_window_ends_on": None}
    assert data["posted_date"] is None
    assert data["posting_date"] is None
    # when the bank settles it a day later
    clock.advance(days=1)
    settle_ach(charge.merchant_account_id)
    db.session.refresh(charge)
    assert charge.status is S.SUCCEEDED
    ensure_posted(charge, before=S.PROCESSING, to=S.SUCCEEDED)
    deliver_all()
    final = receiver.received[-1].payload
    assert final["type"] == "payment.succeeded"
    assert final["sequence"] == 2
    assert final["data"]["posting_date"] == clock().date().isoformat()
    assert (
        final["data"]["funds"]["return_window_ends_on"]
        == (clock() + dt.timedelta(days=60)).date().isoformat()
    )


def test_a_refund_posts_which_allocation_it_took_from(
    session, firm, book: Book, receiver: Receiver, clock: Clock
) -> None:
    add_endpoint(firm.firm, receiver)
    payment = _paid(book, invoices={book.old.id: 120_000, book.new.id: 80_000})
    (charge,) = payment.charges
    second = charge.allocations[1]
    (refund,) = payments.refund_payment(
        firm_id=firm.id,
        payment_public_id=payment.public_id,
        lines=[payments.RefundLine(second.id, 30_000)],
        idempotency_key="r-1",
        reason="overpaid",
    )
    ensure_posted(
        charge,
        before=S.SUCCEEDED,
        to=S.PARTIALLY_REFUNDED,
        source_ref=refund.public_id,
        amount_minor=30_000,
    )
    deliver_all()
    last = receiver.received[-1].payload
    assert last["type"] == "payment.refunded"
    assert last["sequence"] == 2
    assert last["data"]["refund"] == {
        "id": refund.public_id,
        "amount_minor": 30_000,
        "allocation": 1,
        "reason": "overpaid",
    }
    assert last["data"]["allocations"][1]["refunded_minor"] == 30_000
    assert last["data"]["refunded_minor"] == 30_000


@pytest.mark.parametrize(
    ("before", "to", "expected"),
    [
        (S.CREATED, S.PROCESSING, "payment.processing"),
        (S.CREATED, S.SUCCEEDED, "payment.succeeded"),
        (S.PROCESSING, S.SUCCEEDED, "payment.succeeded"),
        (S.CREATED, S.FAILED, None),  # a card declined on the spot was never posted
        (S.CREATED, S.CANCELED, None),
        (S.PROCESSING, S.FAILED, "payment.failed"),
        (S.PROCESSING, S.CANCELED, "payment.failed"),
        (S.SUCCEEDED, S.PARTIALLY_REFUNDED, "payment.refunded"),
        (S.PARTIALLY_REFUNDED, S.REFUNDED, "payment.refunded"),
        (S.SUCCEEDED, S.RETURNED, "payment.returned"),
        (S.SUCCEEDED, S.DISPUTED, "payment.disputed"),
        (S.DISPUTED, S.SUCCEEDED, "payment.dispute_won"),
    ],
)
def test_which_moves_are_posted(before: S, to: S, expected: str | None) -> None:
    assert payment_postings.posting_type(before, to) == expected


def test_a_return_that_empties_trust_posts_the_reversal_and_a_shortfall_alarm(
    session, firm, book: Book, receiver: Receiver, clock: Clock
) -> None:
    firm.firm.auto_post = False  # the alarm is never held, unlike postings
    add_endpoint(firm.firm, receiver)
    payment = pay(book, trust={book.other_matter.id: 40_000})
    (charge,) = payment.charges
    payments.transition(
        charge, S.DISPUTED, source="gateway", reason="fraudulent", amount_minor=40_000
    )
    ensure_posted(charge, before=S.SUCCEEDED, to=S.DISPUTED, reason="fraudulent")
    # A SUM on PostgreSQL comes back as a Decimal; the posting still carries an integer.
    payment_postings.enqueue_trust_shortfall(
        charge, matter_id=book.other_matter.id, balance_minor=Decimal(-5_000)
    )
    deliver_all()
    (alarm,) = receiver.received
    assert alarm.payload["type"] == "trust.shortfall"
    assert alarm.payload["data"]["matter"]["external_id"] == book.other_matter.external_id
    assert alarm.payload["data"]["shortfall_minor"] == 5_000
    held = outbox.held_messages(firm.firm)
    assert held[-1].type == "payment.disputed"
    disputed = json.loads(held[-1].payload)
    assert disputed["data"]["reversal"] == {"amount_minor": 40_000, "reason": "fraudulent"}


# -- delivery and retries --------------------------------------------------------------------


def test_a_receiver_down_for_a_while_still_gets_the_same_message(
    session, firm, book: Book, receiver: Receiver, clock: Clock
) -> None:
    # given a receiver that fails twice and then goes away entirely
    endpoint = add_endpoint(firm.firm, receiver)
    receiver.script = [Reply(500), Reply(502, body=b"bad gateway")]
    payment = _paid(book, invoices={book.old.id: 120_000})
    (message,) = _messages(payment)
    delivery = _delivery(message)
    started = clock()
    # when: attempt 1 at once fails
    assert deliver_all() == 1
    assert deliver_all() == 0  # nothing is due before the next step of the schedule
    first_wait = delivery.next_attempt_at - started
    assert dt.timedelta(seconds=4.5) <= first_wait <= dt.timedelta(seconds=5.5)
    # attempt 2, about 5 s later, fails too
    clock.advance(seconds=6)
    assert deliver_all() == 1
    second_wait = delivery.next_attempt_at - clock()
    assert dt.timedelta(minutes=4.5) <= second_wait <= dt.timedelta(minutes=5.5)
    # attempt 3 finds nobody listening
    port = receiver.port
    receiver.stop()
    clock.advance(minutes=6)
    assert deliver_all() == 1
    assert endpoint.failing_since == started
    # the receiver comes back on the same port; attempt 4, ~30 minutes later, gets through
    receiver.port = port
    receiver.start()
    clock.advance(minutes=34)
    assert deliver_all() == 1
    # then
    assert receiver.ids() == [message.public_id] * 3
    timestamps = [item.headers["webhook-timestamp"] for item in receiver.received]
    assert len(set(timestamps)) == 3  # each attempt is signed afresh
    assert [a.status_code for a in _attempts(delivery)] == [500, 502, None, 200]
    assert _attempts(delivery)[2].error == "could not connect"
    assert _attempts(delivery)[1].response_excerpt == "bad gateway"
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 4
    assert message.status is MessageStatus.DELIVERED
    assert endpoint.failing_since is None
    assert endpoint.last_success_at == clock()


def test_after_eight_failed_attempts_a_delivery_is_given_up(
    session, firm, book: Book, receiver: Receiver, clock: Clock
) -> None:
    add_endpoint(firm.firm, receiver)
    receiver.script = [Reply(500)] * 20
    payment = _paid(book, invoices={book.old.id: 120_000})
    (message,) = _messages(payment)
    delivery = _delivery(message)
    started = clock()
    for _ in range(20):
        deliver_all()
        clock.at = max(clock(), delivery.next_attempt_at)
    assert delivery.attempts == recording.MAX_ATTEMPTS == 8
    assert delivery.status is DeliveryStatus.FAILED
    assert message.status is MessageStatus.FAILED
    # Svix's schedule: the last attempt about 27 h 35 min after the first (±10% jitter).
    last = _attempts(delivery)[-1].attempted_at - started
    assert dt.timedelta(hours=24, minutes=45) <= last <= dt.timedelta(hours=30, minutes=25)
    assert len(receiver.received) == 8


def test_retry_after_is_honoured_on_429(
    session, firm, book: Book, receiver: Receiver, clock: Clock
) -> None:
    add_endpoint(firm.firm, receiver)
    receiver.script = [Reply(429, headers={"Retry-After": "120"})]
    _paid(book, invoices={book.old.id: 120_000})
    assert deliver_all() == 1
    clock.advance(seconds=60)
    assert deliver_all() == 0  # the schedule alone would have retried after 5 s
    clock.advance(seconds=61)
    assert deliver_all() == 1
    assert len(receiver.ids()) == 2
    assert receiver.ids()[0] == receiver.ids()[1]


def test_retry_after_as_a_date_on_503(clock: Clock) -> None:
    when = clock() + dt.timedelta(minutes=10)
    answer = network.Answer(503, "", 5, retry_after=when.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert recording.next_attempt_at(1, answer, clock()) == when
    # A receiver cannot push us away for longer than a day.
    answer = network.Answer(429, "", 5, retry_after=str(7 * 24 * 3600))
    assert recording.next_attempt_at(1, answer, clock()) == clock() + dt.timedelta(hours=24)


def test_a_redirect_is_a_failure_and_is_not_followed(
    session, firm, book: Book, receiver: Receiver, other_receiver: Receiver, clock: Clock
) -> None:
    add_endpoint(firm.firm, receiver)
    receiver.script = [Reply(301, headers={"Location": other_receiver.url})]
    payment = _paid(book, invoices={book.old.id: 120_000})
    deliver_all()
    delivery = _delivery(_messages(payment)[0])
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.attempts == 1
    assert _attempts(delivery)[0].status_code == 301
    assert other_receiver.received == []


def test_a_410_disables_the_endpoint_and_tells_the_firm(
    session,
    firm,
    book: Book,
    receiver: Receiver,
    other_receiver: Receiver,
    clock: Clock,
    app: Flask,
    tmp_path: Path,
) -> None:
    # given two endpoints, the first of which is gone for good
    app.instance_path = str(tmp_path)
    firm.firm.notify_email = "accounts@okafor.example"
    gone = add_endpoint(firm.firm, receiver)
    add_endpoint(firm.firm, other_receiver)
    receiver.script = [Reply(410)]
    payment = _paid(book, invoices={book.old.id: 120_000})
    # when
    deliver_all()
    clock.advance(hours=30)
    deliver_all()
    # then the gone endpoint was tried once and switched off
    assert len(receiver.received) == 1
    assert gone.disabled_at is not None
    assert "410" in (gone.disabled_reason or "")
    (message,) = _messages(payment)
    statuses = {d.endpoint_id: d.status for d in message.deliveries}
    assert statuses[gone.id] is DeliveryStatus.DISABLED
    assert message.status is MessageStatus.FAILED
    # the other endpoint got the posting and the notice
    types = [item.payload["type"] for item in other_receiver.received]
    assert sorted(types) == ["endpoint.disabled", "payment.succeeded"]
    notice = next(i for i in other_receiver.received if i.payload["type"] == "endpoint.disabled")
    assert notice.payload["data"]["endpoint_id"] == gone.public_id
    # and the firm got one email
    mails = [p.read_bytes() for p in (tmp_path / "outbox").glob("*.eml")]
    notices = [m for m in mails if b"stopped sending webhooks" in m]
    assert len(notices) == 1
    assert b"accounts@okafor.example" in notices[0]


def test_five_days_of_failures_disable_the_endpoint(
    session,
    firm,
    book: Book,
    receiver: Receiver,
    other_receiver: Receiver,
    clock: Clock,
    app: Flask,
    tmp_path: Path,
) -> None:
    app.instance_path = str(tmp_path)
    firm.firm.notify_email = "accounts@okafor.example"
    failing = add_endpoint(firm.firm, receiver)
    add_endpoint(firm.firm, other_receiver, event_types=["endpoint.disabled"])
    receiver.script = [Reply(500)] * 1000
    started = clock()
    # when the receiver fails everything for six days while a ping arrives every 6 hours
    # (the worker runs every 2 hours)
    for hour in range(0, 6 * 24, 2):
        if hour % 6 == 0 and failing.disabled_at is None:
            endpoints.send_ping(failing)
        deliver_all()
        clock.advance(hours=2)
    # then it was disabled at the first failure five days after the first one
    assert failing.disabled_at == started + dt.timedelta(days=5)
    tried_after = [
        r
        for r in receiver.received
        if int(r.headers["webhook-timestamp"]) > failing.disabled_at.timestamp()
    ]
    assert tried_after == []
    assert [i.payload["type"] for i in other_receiver.received] == ["endpoint.disabled"]
    mails = [p.read_bytes() for p in (tmp_path / "outbox").glob("*.eml")]
    assert len([m for m in mails if b"stopped sending webhooks" in m]) == 1
    # and re-enabling it sends what was waiting, once
    receiver.script = []
    waiting = endpoints.enable_endpoint(failing)
    assert waiting >= 1
    before = len(receiver.received)
    deliver_all()
    assert len(receiver.received) - before == waiting


# -- holding, rotation, filters, URL safety --------------------------------------------------


def test_held_postings_go_only_when_released(
    session, firm, book: Book, receiver: Receiver, clock: Clock
) -> None:
    firm.firm.auto_post = False
    add_endpoint(firm.firm, receiver)
    first = _paid(book, invoices={book.old.id: 120_000})
    second = _paid(book, invoices={book.new.id: 80_000})
    assert deliver_all() == 0
    assert receiver.received == []
    (held_first,) = _messages(first)
    assert held_first.status is MessageStatus.HELD
    # when the firm releases one posting
    released = outbox.release(firm.firm, [held_first.public_id])
    assert [m.public_id for m in released] == [held_first.public_id]
    deliver_all()
    assert receiver.ids() == [held_first.public_id]
    # a posting of another firm, or one already released, is not released again
    assert outbox.release(firm.firm, [held_first.public_id, "msg_unknown"]) == []
    # when it releases the rest
    outbox.release(firm.firm)
    deliver_all()
    assert receiver.ids() == [held_first.public_id, _messages(second)[0].public_id]


def test_a_rotation_signs_with_both_secrets_for_24_hours(
    session, firm, book: Book, receiver: Receiver, clock: Clock
) -> None:
    endpoint = add_endpoint(firm.firm, receiver)
    old = endpoint.secret
    new = endpoints.rotate_secret(endpoint)
    receiver.secrets = [new, old]
    _paid(book, invoices={book.old.id: 120_000})
    deliver_all()
    (during,) = receiver.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert during.accepted_by == [new, old]  # each secret alone verifies the request
    # a day later only the new secret signs
    clock.advance(hours=24, seconds=1)
    _paid(book, invoices={book.new.id: 80_000})
    deliver_all()
    after = receiver.received[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert after.accepted_by == [new]


def test_an_endpoint_gets_only_the_types_it_asked_for(
    session, firm, book: Book, receiver: Receiver, other_receiver: Receiver, clock: Clock
) -> None:
    add_endpoint(firm.firm, receiver, event_types=["payment.refunded", "trust.*"])
    add_endpoint(firm.firm, other_receiver, event_types=["payment.*"])
    _paid(book, invoices={book.old.id: 120_000})
    deliver_all()
    assert receiver.received == []
    assert len(other_receiver.received) == 1
    with pytest.raises(ValidationFailed):
        endpoints.register_endpoint(firm.firm, url=receiver.url, event_types=["payment.paid"])


def test_a_ping_goes_to_its_endpoint_only(
    session, firm, receiver: Receiver, other_receiver: Receiver, clock: Clock
) -> None:
    endpoint = add_endpoint(firm.firm, receiver)
    add_endpoint(firm.firm, other_receiver)
    message = endpoints.send_ping(endpoint)
    deliver_all()
    assert receiver.ids() == [message.public_id]
    assert other_receiver.received == []
    assert receiver.received[0].payload["sequence"] is None


def test_private_targets_are_refused_unless_allowed(
    session, firm, book: Book, receiver: Receiver, clock: Clock, app: Flask
) -> None:
    # given an endpoint saved while loopback was allowed (or whose DNS changed since)
    endpoint = add_endpoint(firm.firm, receiver)
    # when the setting is off
    app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = False
    with pytest.raises(network.UnsafeTarget):
        endpoints.register_endpoint(firm.firm, url=receiver.url)
    with pytest.raises(network.UnsafeTarget):
        endpoints.register_endpoint(firm.firm, url=f"https://127.0.0.1:{receiver.port}/")
    # then delivery checks again and refuses to connect
    payment = _paid(book, invoices={book.old.id: 120_000})
    deliver_all()
    assert receiver.received == []
    (attempt,) = _attempts(_delivery(_messages(payment)[0]))
    assert attempt.status_code is None
    assert (attempt.error or "").startswith("refused:")
    assert endpoint.failing_since is not None


def test_a_rolled_back_payment_leaves_no_posting(
    session, firm, book: Book, receiver: Receiver, clock: Clock
) -> None:
    add_endpoint(firm.firm, receiver)
    payment = _paid(book, invoices={book.old.id: 120_000})
    count = select(func.count(OutboundMessage.id)).where(OutboundMessage.firm_id == firm.id)
    assert db.session.scalar(count) == 1
    with db.session.begin_nested() as savepoint:
        payment_postings.enqueue_for_charge(payment.charges[0], "payment.refunded")
        assert db.session.scalar(count) == 2
        savepoint.rollback()
    assert db.session.scalar(count) == 1


def test_two_messages_about_one_payment_get_consecutive_numbers(
    session, firm, book: Book, clock: Clock
) -> None:
    payment = pay(book, invoices={book.old.id: 120_000})
    (charge,) = payment.charges
    numbers = [
        payment_postings.enqueue_for_charge(charge, "payment.succeeded").sequence,
        payment_postings.enqueue_for_charge(charge, "payment.refunded").sequence,
    ]
    assert numbers[1] == numbers[0] + 1


def test_delivered_messages_are_purged_after_30_days_and_others_kept(
    session, firm, book: Book, receiver: Receiver, clock: Clock
) -> None:
    add_endpoint(firm.firm, receiver)
    old = _messages(_paid(book, invoices={book.old.id: 120_000}))[0]
    deliver_all()
    firm.firm.auto_post = False
    still_held = _messages(_paid(book, invoices={book.new.id: 80_000}))[0]
    clock.advance(days=29)
    assert outbox.purge_delivered() == 0
    clock.advance(days=2)
    assert outbox.purge_delivered() == 1
    ids = set(db.session.scalars(select(OutboundMessage.public_id)))
    assert old.public_id not in ids
    assert still_held.public_id in ids
    assert (
        db.session.scalar(
            select(func.count(DeliveryAttempt.id))
            .join(Delivery)
            .where(Delivery.message_id == old.id)
        )
        == 0
    )


def test_a_lease_keeps_other_workers_off_a_delivery_in_flight(
    session, firm, book: Book, receiver: Receiver, clock: Clock
) -> None:
    add_endpoint(firm.firm, receiver)
    _paid(book, invoices={book.old.id: 120_000})
    job = sending.claim_next("worker-a")
    assert job is not None
    assert job.attempt == 1
    assert sending.claim_next("worker-b") is None
    # the lease covers one attempt (timeout plus margin) and the batch window
    assert job.claimed_until == portal_clock.now() + dt.timedelta(seconds=1 + 30 + 15)
    clock.advance(seconds=1 + 30 + 15 - 1)
    assert sending.claim_next("worker-b") is None
    clock.advance(seconds=1)  # worker-a is presumed dead
    taken_over = sending.claim_next("worker-b")
    assert taken_over is not None
    assert taken_over.delivery_id == job.delivery_id
    assert taken_over.attempt == 2
    assert taken_over.msg_id == job.msg_id
    # worker-a wakes up late with a failure: logged, but the schedule is worker-b's now
    recording.record(job, network.Answer(500, "", 3), "worker-a")
    delivery = db.session.get(Delivery, job.delivery_id)
    assert delivery.claimed_by == "worker-b"
    assert delivery.status is DeliveryStatus.PENDING
    recording.record(taken_over, sending.send(taken_over), "worker-b")
    assert delivery.status is DeliveryStatus.DELIVERED
    assert len(receiver.received) == 1


def test_nothing_is_sent_for_a_firm_without_endpoints_but_the_message_is_kept(
    session, firm, book: Book, clock: Clock
) -> None:
    payment = _paid(book, invoices={book.old.id: 120_000})
    assert deliver_all() == 0
    (message,) = _messages(payment)
    assert message.status is MessageStatus.PENDING
    assert message.deliveries == []


def test_firms_from_before_postings_get_safe_settings(session) -> None:
    # A row written without the new columns, as every firm was before this migration.
    db.session.execute(
        text(
            "INSERT INTO firms (slug, name, created_at)"
            " VALUES ('older', 'Older LLP', CURRENT_TIMESTAMP)"
        )
    )
    firm = db.session.scalars(select(Firm).where(Firm.slug == "older")).one()
    assert firm.auto_post is True
    assert firm.use_posted_date is False
    assert firm.ar_message is None
    assert firm.notify_email is None


def test_a_receiver_on_a_closed_port_counts_as_a_failure(
    session, firm, book: Book, clock: Clock
) -> None:
    endpoint = endpoints.register_endpoint(firm.firm, url=f"http://127.0.0.1:{free_port()}/hook")
    payment = _paid(book, invoices={book.old.id: 120_000})
    deliver_all()
    (attempt,) = _attempts(_delivery(_messages(payment)[0]))
    assert attempt.error == "could not connect"
    assert endpoint.failing_since == portal_clock.now()
