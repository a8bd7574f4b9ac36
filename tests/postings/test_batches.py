"""Batched delivery: one claim and one record per batch, kept-alive connections, and a lease
that never lets an attempt start unless the whole attempt fits in it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from portal import clock as portal_clock
from portal.db import db
from portal.postings import delivery as worker
from portal.postings import endpoints, network, sending
from portal.postings.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    MessageStatus,
    OutboundMessage,
    WebhookEndpoint,
)
from tests.postings.conftest import Clock, Receiver, Reply, add_endpoint, deliver_all

pytestmark = pytest.mark.usefixtures("webhook_settings")


def _pings(endpoint: WebhookEndpoint, count: int) -> list[str]:
    ids = [endpoints.send_ping(endpoint).public_id for _ in range(count)]
    db.session.flush()
    return ids


def _deliveries() -> list[Delivery]:
    return list(db.session.scalars(select(Delivery).order_by(Delivery.id)))


def test_a_batch_is_claimed_with_one_lease_and_sent_on_one_connection(
    session, firm, receiver: Receiver, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given five pings due at once
    endpoint = add_endpoint(firm.firm, receiver)
    ids = _pings(endpoint, 5)
    claims: list[int] = []
    claim = sending.claim_batch

    def counting(worker_id: str, size: int) -> list[sending.Job]:
        jobs = claim(worker_id, size)
        claims.append(len(jobs))
        return jobs

    monkeypatch.setattr(sending, "claim_batch", counting)
    # when one worker delivers them
    assert deliver_all() == 5
    # then one claim took all five (and a second found nothing more), in the order queued,
    assert claims == [5, 0]
    assert receiver.ids() == ids
    # over a single kept-alive connection, every one signed and verified
    assert len({item.peer for item in receiver.received}) == 1
    assert all(item.accepted_by for item in receiver.received)
    deliveries = _deliveries()
    assert {(d.status, d.attempts, d.claimed_by) for d in deliveries} == {
        (DeliveryStatus.DELIVERED, 1, None)
    }
    assert all(d.last_attempt_at == portal_clock.now() for d in deliveries)
    assert db.session.scalar(select(func.count(DeliveryAttempt.id))) == 5
    statuses = set(db.session.scalars(select(OutboundMessage.status)))
    assert statuses == {MessageStatus.DELIVERED}


def test_a_batch_size_of_two_takes_three_claims_for_five(
    session, app, firm, receiver: Receiver, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config["WEBHOOK_BATCH_SIZE"] = 2
    endpoint = add_endpoint(firm.firm, receiver)
    ids = _pings(endpoint, 5)
    sizes: list[int] = []
    claim = sending.claim_batch
    monkeypatch.setattr(sending, "claim_batch", lambda w, n: sizes.append(n) or claim(w, n))
    assert deliver_all() == 5
    assert sizes == [2, 2, 2, 2]
    assert receiver.ids() == ids


def test_after_a_failure_the_rest_of_the_batch_for_that_endpoint_waits_for_the_next_claim(
    session, firm, receiver: Receiver, other_receiver: Receiver, clock: Clock
) -> None:
    # given three pings to a receiver that fails the first request, two to another receiver
    failing = add_endpoint(firm.firm, receiver)
    working = add_endpoint(firm.firm, other_receiver)
    first, *rest = _pings(failing, 3)
    others = _pings(working, 2)
    receiver.script = [Reply(500)]
    # when one worker delivers what is due
    assert deliver_all() == 5
    # then the failed one waits for its retry, and the others went after it was recorded:
    # each was tried once, and counted once
    assert receiver.ids() == [first, *rest]
    assert other_receiver.ids() == others
    by_message = {d.message.public_id: (d.status, d.attempts) for d in _deliveries()}
    assert by_message[first] == (DeliveryStatus.PENDING, 1)
    for msg_id in [*rest, *others]:
        assert by_message[msg_id] == (DeliveryStatus.DELIVERED, 1)
    assert db.session.scalar(select(func.count(DeliveryAttempt.id))) == 5
    assert failing.failing_since is None  # a later success ended the run of failures


def test_after_a_410_nothing_more_of_the_batch_goes_to_that_endpoint(
    session, firm, receiver: Receiver, clock: Clock
) -> None:
    endpoint = add_endpoint(firm.firm, receiver)
    first, *_rest = _pings(endpoint, 3)
    receiver.script = [Reply(410)]
    assert deliver_all() == 1
    assert receiver.ids() == [first]
    assert endpoint.disabled_at is not None
    assert {(d.status, d.attempts) for d in _deliveries()} == {
        (DeliveryStatus.DISABLED, 1),
        (DeliveryStatus.DISABLED, 0),
    }


def test_no_attempt_starts_unless_the_lease_still_covers_it(
    session, firm, receiver: Receiver, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given three pings, and sends that take 10 s each by the clock
    endpoint = add_endpoint(firm.firm, receiver)
    ids = _pings(endpoint, 3)
    send = sending.send
    leases: list[dt.datetime] = []

    def slow(job: sending.Job, **kw: object) -> network.Answer:
        leases.append(job.claimed_until)
        answer = send(job, **kw)  # type: ignore[arg-type]
        clock.advance(seconds=10)
        return answer

    monkeypatch.setattr(sending, "send", slow)
    started = portal_clock.now()
    # when one worker delivers them (timeout 1 s: an attempt needs 31 s of lease, a batch
    # holds 46 s, so the third attempt, starting 20 s in, would not fit)
    assert deliver_all() == 3
    # then the third was given back unsent and sent under a second, fresh lease
    lease = dt.timedelta(seconds=1) + sending.LEASE_MARGIN + sending.BATCH_WINDOW
    assert leases == [started + lease, started + lease, started + dt.timedelta(seconds=20) + lease]
    assert receiver.ids() == ids
    assert {(d.status, d.attempts) for d in _deliveries()} == {(DeliveryStatus.DELIVERED, 1)}


def test_a_worker_asked_to_stop_gives_back_what_it_did_not_send(
    session, firm, receiver: Receiver, clock: Clock
) -> None:
    endpoint = add_endpoint(firm.firm, receiver)
    first, *_rest = _pings(endpoint, 3)
    sent = worker.deliver_due("stopping", should_stop=lambda: len(receiver.received) >= 1)
    assert sent == 1
    assert receiver.ids() == [first]
    deliveries = _deliveries()
    assert [(d.status, d.attempts, d.claimed_by, d.claimed_until) for d in deliveries] == [
        (DeliveryStatus.DELIVERED, 1, None, None),
        (DeliveryStatus.PENDING, 0, None, None),
        (DeliveryStatus.PENDING, 0, None, None),
    ]
    # and the next worker takes them at once
    assert deliver_all() == 2


def test_an_endpoint_gone_unsafe_is_refused_at_delivery(
    session, app, firm, receiver: Receiver, clock: Clock
) -> None:
    endpoint = add_endpoint(firm.firm, receiver)
    _pings(endpoint, 2)
    app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = False  # loopback is no longer acceptable
    assert deliver_all() == 2
    assert receiver.received == []
    errors = set(db.session.scalars(select(DeliveryAttempt.error)))
    assert len(errors) == 1
    assert errors.pop().startswith("refused: ")
