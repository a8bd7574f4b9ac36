"""Replays that must send now: a message waiting between retries, and what a disabled
endpoint missed (counted on re-enabling, sent by `replay?since`)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from portal.db import db
from portal.postings import outbox
from portal.postings.models import Delivery, DeliveryStatus, MessageStatus
from tests import factories
from tests.postings.conftest import Clock, Receiver, Reply, add_endpoint, deliver_all

pytestmark = pytest.mark.usefixtures("webhook_settings")


def _ping(firm_id: int, note: str = "hello", event_type: str = "ping") -> str:
    with db.transaction():  # as the feature that queues it would
        return outbox.enqueue(
            firm_id=firm_id, event_type=event_type, data={"message": note}
        ).public_id


def test_replaying_a_message_waiting_between_retries_sends_it_on_the_next_round(
    session, firm: factories.FirmWithKey, receiver: Receiver, clock: Clock
) -> None:
    with db.transaction():
        endpoint = add_endpoint(firm.firm, receiver)
    receiver.script.append(Reply(status=500))
    msg_id = _ping(firm.firm.id)
    assert deliver_all() == 1
    delivery = db.session.scalars(select(Delivery).where(Delivery.endpoint_id == endpoint.id)).one()
    assert delivery.attempts == 1 and delivery.next_attempt_at > clock()
    assert deliver_all() == 0  # waiting for its retry; the clock does not move

    resent = outbox.replay_message(firm_id=firm.firm.id, public_id=msg_id)
    assert resent.endpoints == [endpoint]
    db.session.expire_all()
    assert delivery.next_attempt_at == clock() and delivery.attempts == 1

    assert deliver_all() == 1
    assert receiver.ids() == [msg_id, msg_id]
    db.session.expire_all()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert delivery.message.status is MessageStatus.DELIVERED


def test_a_delivery_a_worker_holds_is_left_to_it(
    session, firm: factories.FirmWithKey, receiver: Receiver, clock: Clock
) -> None:
    with db.transaction():
        endpoint = add_endpoint(firm.firm, receiver)
    msg_id = _ping(firm.firm.id)
    with db.transaction():
        delivery = db.session.scalars(
            select(Delivery).where(Delivery.endpoint_id == endpoint.id)
        ).one()
        delivery.next_attempt_at = clock() + dt.timedelta(minutes=5)
        delivery.claimed_by = "another-worker"
        delivery.claimed_until = clock() + dt.timedelta(minutes=1)
    outbox.replay_message(firm_id=firm.firm.id, public_id=msg_id)
    db.session.expire_all()
    assert delivery.next_attempt_at == clock() + dt.timedelta(minutes=5)
    assert deliver_all() == 0
