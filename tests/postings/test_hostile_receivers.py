"""A hostile or broken receiver cannot stop other firms' postings (issue 14, item 1).

A receiver answering 429/503 with an absurd `Retry-After` (`99999999999999999999`, `²`)
used to kill the worker while it computed the next attempt, after the batch had been sent
but before it was recorded: every firm's message in that batch was sent again on restart.
Now Retry-After is read as ASCII digits, bounded, and anything else means the normal
backoff; and an error while recording one message marks that message failed with the
reason, records the rest of the batch normally, and the worker goes on.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from flask import Flask
from sqlalchemy import select

from portal.db import db
from portal.postings import delivery as worker
from portal.postings import endpoints, network, recording, sending
from portal.postings.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    MessageStatus,
    OutboundMessage,
    WebhookEndpoint,
)
from tests.factories import FirmWithKey
from tests.postings.conftest import Clock, Receiver, Reply, add_endpoint, deliver_all

pytestmark = pytest.mark.usefixtures("webhook_settings")

#: The first retry's wait (5 s) with its ±10% jitter: the normal backoff.
NORMAL_FIRST_RETRY = (dt.timedelta(seconds=4.5), dt.timedelta(seconds=5.5))


def _delivery(endpoint: WebhookEndpoint) -> Delivery:
    return db.session.scalars(select(Delivery).where(Delivery.endpoint_id == endpoint.id)).one()


def _attempts(delivery: Delivery) -> list[DeliveryAttempt]:
    return list(
        db.session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery.id)
            .order_by(DeliveryAttempt.id)
        )
    )


@pytest.mark.parametrize(
    "value",
    [
        "99999999999999999999",  # OverflowError in timedelta
        "²",  # str.isdigit() says yes, int() says no
        "1²",
        "١٢٠",  # Arabic-Indic digits: int() reads them, HTTP does not
        "-5",
        "1e3",
        "12.5",
        "Sun, 06 Nov 99999 08:49:37 GMT",
        "Mon, 32 Foo 2026 25:61:61 GMT",
        "",
    ],
)
def test_an_unreadable_or_absurd_retry_after_means_the_normal_backoff(
    value: str, clock: Clock
) -> None:
    for status in (429, 503):
        answer = network.Answer(status, "", 5, retry_after=value)
        wait = recording.next_attempt_at(1, answer, clock()) - clock()
        assert NORMAL_FIRST_RETRY[0] <= wait <= NORMAL_FIRST_RETRY[1], (status, value)


def test_a_readable_retry_after_is_honoured_up_to_the_cap(clock: Clock) -> None:
    asked = network.Answer(429, "", 5, retry_after=" 120 ")
    assert recording.next_attempt_at(1, asked, clock()) == clock() + dt.timedelta(seconds=120)
    # Longer than a day is cut to a day; a year or more is not a meaningful answer.
    week = network.Answer(503, "", 5, retry_after=str(7 * 24 * 3600))
    assert recording.next_attempt_at(1, week, clock()) == clock() + recording.MAX_RETRY_AFTER
    years = network.Answer(503, "", 5, retry_after=str(3 * 365 * 24 * 3600))
    wait = recording.next_attempt_at(1, years, clock()) - clock()
    assert NORMAL_FIRST_RETRY[0] <= wait <= NORMAL_FIRST_RETRY[1]


@pytest.mark.parametrize(
    ("status", "value"), [(429, "99999999999999999999"), (503, "²"), (429, "²"), (503, "9" * 400)]
)
def test_a_poisonous_retry_after_does_not_stop_another_firms_postings(
    session,
    firm: FirmWithKey,
    other_firm: FirmWithKey,
    receiver: Receiver,
    other_receiver: Receiver,
    clock: Clock,
    status: int,
    value: str,
) -> None:
    # given one firm's receiver that answers with a poisonous Retry-After, and another
    # firm's healthy receiver, each with a message due in the same batch
    hostile = add_endpoint(firm.firm, receiver)
    healthy = add_endpoint(other_firm.firm, other_receiver)
    receiver.script = [Reply(status, headers={"Retry-After": value})]
    first = endpoints.send_ping(hostile).public_id
    second = endpoints.send_ping(healthy).public_id
    db.session.commit()

    # when the worker delivers what is due
    assert deliver_all() == 2

    # then both were sent once and both attempts are recorded
    assert receiver.ids() == [first]
    assert other_receiver.ids() == [second]
    assert _delivery(healthy).status is DeliveryStatus.DELIVERED
    hostile_delivery = _delivery(hostile)
    assert [a.status_code for a in _attempts(hostile_delivery)] == [status]
    # and the throttled one waits the normal backoff, not forever
    assert hostile_delivery.status is DeliveryStatus.PENDING
    wait = hostile_delivery.next_attempt_at - clock()
    assert NORMAL_FIRST_RETRY[0] <= wait <= NORMAL_FIRST_RETRY[1]
    # and a restarted worker sends the healthy firm nothing again
    assert deliver_all() == 0
    assert other_receiver.ids() == [second]
    clock.advance(seconds=6)
    assert deliver_all() == 1
    assert receiver.ids() == [first, first]
    assert other_receiver.ids() == [second]


def test_an_error_while_recording_one_message_fails_that_message_alone(
    session,
    firm: FirmWithKey,
    other_firm: FirmWithKey,
    receiver: Receiver,
    other_receiver: Receiver,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given two firms' messages in one batch, the first answered 503, the second 200, and a
    # bug that breaks scheduling the retry of whatever the first receiver answered
    hostile = add_endpoint(firm.firm, receiver)
    healthy = add_endpoint(other_firm.firm, other_receiver)
    receiver.script = [Reply(503)]
    poisoned = endpoints.send_ping(hostile)
    fine = endpoints.send_ping(healthy)
    db.session.commit()
    schedule = recording.next_attempt_at

    def broken(attempts: int, answer: network.Answer, now: dt.datetime) -> dt.datetime:
        if answer.status_code == 503:
            raise OverflowError("date value out of range")
        return schedule(attempts, answer, now)

    monkeypatch.setattr(recording, "next_attempt_at", broken)

    # when the worker delivers the batch, it does not crash
    assert deliver_all() == 2

    # then the poisoned message is failed, with the reason in its delivery log
    db.session.expire_all()
    bad = _delivery(hostile)
    assert bad.status is DeliveryStatus.FAILED
    assert db.session.get(OutboundMessage, poisoned.id).status is MessageStatus.FAILED
    (attempt,) = _attempts(bad)
    assert attempt.status_code == 503
    assert attempt.error is not None
    assert "OverflowError" in attempt.error and "date value out of range" in attempt.error
    # and the other firm's message is recorded as delivered, and never sent again
    assert _delivery(healthy).status is DeliveryStatus.DELIVERED
    assert db.session.get(OutboundMessage, fine.id).status is MessageStatus.DELIVERED
    clock.advance(hours=30)
    assert deliver_all() == 0
    assert receiver.ids() == [poisoned.public_id]
    assert other_receiver.ids() == [fine.public_id]


def test_a_batch_that_cannot_be_recorded_whole_is_recorded_message_by_message(
    session,
    firm: FirmWithKey,
    other_firm: FirmWithKey,
    receiver: Receiver,
    other_receiver: Receiver,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given two firms' messages in one batch, and a failure that hits recording the batch
    # whole whenever the first firm's message is in it
    hostile = add_endpoint(firm.firm, receiver)
    healthy = add_endpoint(other_firm.firm, other_receiver)
    poisoned = endpoints.send_ping(hostile)
    fine = endpoints.send_ping(healthy)
    db.session.commit()
    record_batch = recording.record_batch

    def fragile(sent: list[sending.Sent], worker_id: str, **kw: object) -> None:
        if any(item.job.msg_id == poisoned.public_id for item in sent):
            raise RuntimeError("cannot record this one")
        record_batch(sent, worker_id, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(recording, "record_batch", fragile)

    # when the worker delivers the batch
    assert deliver_all() == 2

    # then the other firm's attempt is recorded, and the poisoned message failed with why
    db.session.expire_all()
    assert _delivery(healthy).status is DeliveryStatus.DELIVERED
    bad = _delivery(hostile)
    assert bad.status is DeliveryStatus.FAILED
    assert db.session.get(OutboundMessage, poisoned.id).status is MessageStatus.FAILED
    (attempt,) = _attempts(bad)
    assert attempt.error is not None and "RuntimeError" in attempt.error
    # and nothing is sent twice
    clock.advance(hours=30)
    assert deliver_all() == 0
    assert receiver.ids() == [poisoned.public_id]
    assert other_receiver.ids() == [fine.public_id]


def test_the_worker_command_keeps_running_when_a_round_fails(
    session, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a delivery round that fails twice (the database is away, say), then stops
    rounds: list[str] = []
    stop = threading.Event()

    def flaky(worker_id: str, **kw: object) -> int:
        rounds.append(worker_id)
        if len(rounds) <= 2:
            raise RuntimeError("database went away")
        stop.set()
        return 0

    monkeypatch.setattr(worker, "deliver_due", flaky)
    monkeypatch.setattr(threading, "Event", lambda: stop)
    # when the worker runs
    result = app.test_cli_runner().invoke(args=["deliver-webhooks", "--idle-sleep", "0"])
    # then it went on after each failure, and stopped when asked
    assert result.exit_code == 0, result.output
    assert len(rounds) == 3
