"""Replays that must send now: a message waiting between retries, and what a disabled
endpoint missed (counted on re-enabling, sent by `replay?since`)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from portal.audit.services import Actor
from portal.db import db
from portal.postings import endpoints, outbox
from portal.postings.models import Delivery, DeliveryStatus, MessageStatus
from tests import factories
from tests.postings.conftest import Clock, Receiver, Reply, add_endpoint, deliver_all

#: Who acts in these tests: a staff user, as the console will call these use cases.
ACTOR = Actor.staff(7)

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


def _enqueue(firm_id: int, event_type: str = "ping", *, held: bool = False) -> str:
    with db.transaction():
        message = outbox.enqueue(
            firm_id=firm_id, event_type=event_type, data={"message": "x"}, held=held
        )
        return message.public_id


def test_re_enabling_says_what_was_missed_and_the_since_that_sends_it(
    session,
    firm: factories.FirmWithKey,
    other_firm: factories.FirmWithKey,
    receiver: Receiver,
    clock: Clock,
) -> None:
    # given: an endpoint for pings with one waiting when it is paused
    firm_id = firm.firm.id
    with db.transaction():
        endpoint = add_endpoint(firm.firm, receiver, event_types=["ping"])
    stopped = _enqueue(firm_id)
    disabled_at = clock.advance(minutes=1)
    paused = endpoints.update_endpoint(
        firm_id=firm_id, public_id=endpoint.public_id, enabled=False, actor=ACTOR
    )
    assert paused.missed is None

    # and, while it is paused: a ping (missed), a type it does not take, a held ping, and
    # another firm's ping
    clock.advance(hours=2)
    missed = _enqueue(firm_id)
    _enqueue(firm_id, "link.delivery_failed")
    _enqueue(firm_id, held=True)
    _enqueue(other_firm.firm.id)

    # when
    resumed = endpoints.update_endpoint(
        firm_id=firm_id, public_id=endpoint.public_id, enabled=True, actor=ACTOR
    )

    # then: one missed since the pause; only what the pause stopped goes out on its own
    assert resumed.missed == endpoints.Missed(count=1, since=disabled_at)
    assert resumed.missed is not None
    deliver_all()
    assert receiver.ids() == [stopped]

    # when: the firm replays from the instant given
    replay = endpoints.replay_to_endpoint(
        firm_id=firm_id, public_id=endpoint.public_id, since=resumed.missed.since
    )

    # then
    assert [m.public_id for m in replay.messages] == [missed]
    deliver_all()
    assert receiver.ids() == [stopped, missed]


def test_an_endpoint_disabled_longer_than_the_replay_window_gets_a_since_a_replay_accepts(
    session, firm: factories.FirmWithKey, receiver: Receiver, clock: Clock
) -> None:
    firm_id = firm.firm.id
    with db.transaction():
        endpoint = add_endpoint(firm.firm, receiver)
    endpoints.update_endpoint(
        firm_id=firm_id, public_id=endpoint.public_id, enabled=False, actor=ACTOR
    )
    _enqueue(firm_id)  # too old to be replayed by the time it is re-enabled
    clock.advance(days=40)
    recent = _enqueue(firm_id)

    resumed = endpoints.update_endpoint(
        firm_id=firm_id, public_id=endpoint.public_id, enabled=True, actor=ACTOR
    )

    assert resumed.missed is not None
    assert resumed.missed.count == 1
    assert resumed.missed.since == clock() - outbox.replay_window() + endpoints.REPLAY_MARGIN
    clock.advance(minutes=10)
    replay = endpoints.replay_to_endpoint(
        firm_id=firm_id, public_id=endpoint.public_id, since=resumed.missed.since
    )
    assert [m.public_id for m in replay.messages] == [recent]


def test_an_edit_that_does_not_re_enable_says_nothing_missed(
    session, firm: factories.FirmWithKey, receiver: Receiver
) -> None:
    with db.transaction():
        endpoint = add_endpoint(firm.firm, receiver)
    update = endpoints.update_endpoint(
        firm_id=firm.firm.id,
        public_id=endpoint.public_id,
        description="Books",
        enabled=True,
        actor=ACTOR,
    )
    assert (update.endpoint.description, update.missed) == ("Books", None)
