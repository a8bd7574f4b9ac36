"""Claiming and sending: the first half of delivering the outbox.

A worker claims a batch of due deliveries in one short transaction with a lease, then sends
them over kept-alive connections with no transaction open. `claim_batch` commits (the
worker calls it); the rest never touch the database. Recording what came back is
`portal.postings.recording`; the loop that does both is `portal.postings.delivery`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import or_, select, update

from portal import clock
from portal.db import db
from portal.postings import network, outbox, signing
from portal.postings.endpoints import allow_private, signing_secrets
from portal.postings.models import Delivery, DeliveryStatus, OutboundMessage, WebhookEndpoint

log = logging.getLogger(__name__)

#: One attempt's lease is the request timeout plus this margin (an attempt lasts at most
#: about twice the timeout, which is at most 30 s); a worker that dies leaves its
#: deliveries to others once the lease runs out.
LEASE_MARGIN = dt.timedelta(seconds=30)
#: A batch's lease is one attempt's plus this window: attempts start only while a whole
#: attempt still fits in the lease, so a batch spends at most this long before the rest
#: is given back to be claimed again (by this worker or another).
BATCH_WINDOW = dt.timedelta(seconds=15)


@dataclass(frozen=True)
class Job:
    """Everything one send needs, copied out of the database so no transaction stays open."""

    delivery_id: int
    endpoint_id: int
    attempt: int
    msg_id: str
    body: str
    url: str
    secrets: tuple[str, ...]
    #: The worker's lease on the delivery ends then; no attempt starts unless it fits before.
    claimed_until: dt.datetime


@dataclass(frozen=True)
class Sent:
    """One attempt made: the job, when it started, and what came back."""

    job: Job
    at: dt.datetime
    answer: network.Answer


def _timeout() -> int:
    return int(current_app.config["WEBHOOK_TIMEOUT_SECONDS"])


def _attempt_lease() -> dt.timedelta:
    """How long one attempt may need: the request timeout plus LEASE_MARGIN."""
    return dt.timedelta(seconds=_timeout()) + LEASE_MARGIN


def claim_batch(worker_id: str, size: int) -> list[Job]:
    """Claim up to `size` of the most overdue deliveries with one lease, in one transaction.

    On PostgreSQL, FOR UPDATE SKIP LOCKED lets workers pass each other's rows instead of
    queueing on them; on SQLite the transaction begins IMMEDIATE (see portal.db), so claims
    are serialised. Either way two workers never hold the same delivery at once. The lease
    covers one attempt plus BATCH_WINDOW: the worker starts an attempt only while a whole
    attempt still fits in it, and gives back what it did not get to (see `deliver_due`).
    """
    now = clock.now()
    rows = db.session.execute(
        select(
            Delivery.id,
            Delivery.endpoint_id,
            Delivery.attempts,
            OutboundMessage.public_id,
            OutboundMessage.payload,
        )
        .join(OutboundMessage, OutboundMessage.id == Delivery.message_id)
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.next_attempt_at <= now,
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until <= now),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(size)
        .with_for_update(skip_locked=True, of=Delivery)
    ).all()
    if not rows:
        db.session.commit()
        return []
    # The secret may have been rotated since this session last saw the endpoint.
    endpoints = {
        endpoint.id: endpoint
        for endpoint in db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.id.in_({row.endpoint_id for row in rows}))
            .execution_options(populate_existing=True)
        )
    }
    until = now + _attempt_lease() + BATCH_WINDOW
    ids = [row.id for row in rows]
    db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids))
        .values(attempts=Delivery.attempts + 1, claimed_by=worker_id, claimed_until=until)
        .execution_options(synchronize_session=False)
    )
    outbox.sync(
        Delivery,
        {
            row.id: {"attempts": row.attempts + 1, "claimed_by": worker_id, "claimed_until": until}
            for row in rows
        },
    )
    jobs = [
        Job(
            delivery_id=row.id,
            endpoint_id=row.endpoint_id,
            attempt=row.attempts + 1,
            msg_id=row.public_id,
            body=row.payload,
            url=endpoints[row.endpoint_id].url,
            secrets=tuple(signing_secrets(endpoints[row.endpoint_id], now)),
            claimed_until=until,
        )
        for row in rows
    ]
    db.session.commit()
    return jobs


def claim_next(worker_id: str) -> Job | None:
    """Claim the most overdue delivery alone (see `claim_batch`)."""
    jobs = claim_batch(worker_id, 1)
    return jobs[0] if jobs else None


def send(
    job: Job,
    *,
    sender: network.Sender | None = None,
    targets: dict[str, network.Target | network.Answer] | None = None,
) -> network.Answer:
    """Check the URL again (its DNS may have changed since it was saved), sign, and POST.

    `targets` caches the check per URL for one batch (a few milliseconds); `sender` keeps
    connections alive between sends.
    """
    checked = targets.get(job.url) if targets is not None else None
    if checked is None:
        try:
            checked = network.check_url(job.url, allow_private=allow_private())
        except network.UnsafeTarget as exc:
            checked = network.Answer(None, "", 0, error=f"refused: {exc.detail}"[:300])
        except Exception as exc:
            log.exception("checking the URL of delivery %s failed unexpectedly", job.delivery_id)
            checked = network.Answer(None, "", 0, error=f"sender error: {type(exc).__name__}")
        if targets is not None:
            targets[job.url] = checked
    if isinstance(checked, network.Answer):
        return checked
    headers = signing.headers(job.secrets, msg_id=job.msg_id, sent_at=clock.now(), body=job.body)
    try:
        if sender is None:
            return network.post(checked, job.body, headers, timeout=_timeout())
        return sender.post(checked, job.body, headers, timeout=_timeout())
    except Exception as exc:
        # A bug of ours must not stop the worker: the attempt is logged and retried on
        # schedule like any other failure.
        log.exception("sending delivery %s failed unexpectedly", job.delivery_id)
        return network.Answer(None, "", 0, error=f"sender error: {type(exc).__name__}")


def send_batch(
    jobs: Sequence[Job],
    *,
    sender: network.Sender,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[list[Sent], list[Job]]:
    """Send claimed jobs in order; returns the attempts made and the jobs left unsent.

    A job is left unsent when the worker is asked to stop, when its lease no longer holds a
    whole attempt, or when its endpoint already failed in this batch (the next batch tries
    it again after the failure is recorded, which may have disabled the endpoint meanwhile,
    as when deliveries went one by one).
    """
    attempt = _attempt_lease()
    targets: dict[str, network.Target | network.Answer] = {}
    failed: set[int] = set()
    sent: list[Sent] = []
    unsent: list[Job] = []
    for n, job in enumerate(jobs):
        at = clock.now()
        if (should_stop is not None and should_stop()) or at + attempt > job.claimed_until:
            unsent.extend(jobs[n:])
            break
        if job.endpoint_id in failed:
            unsent.append(job)
            continue
        answer = send(job, sender=sender, targets=targets)
        sent.append(Sent(job, at, answer))
        if not answer.is_success:
            failed.add(job.endpoint_id)
    return sent, unsent
