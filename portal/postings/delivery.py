"""Delivering the outbox: claim due deliveries, send them, record what came back.

Delivery is a separate worker (`flask --app portal deliver-webhooks`): it claims a batch of
due deliveries in a short transaction with a lease, sends them over kept-alive connections
with no transaction open, then records the attempts and schedules what follows in one more
transaction. Several workers may run at once. `claim_batch`, `record_batch` and
`deliver_due` own their transactions (the worker calls them); the rest never commit.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import insert, or_, select, update

from portal import clock
from portal.db import db
from portal.postings import network, outbox, signing
from portal.postings.endpoints import allow_private, disable_endpoint, signing_secrets
from portal.postings.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    OutboundMessage,
    WebhookEndpoint,
)

log = logging.getLogger(__name__)

#: Waits after each failed attempt (Standard Webhooks' example, as Svix runs it): the first
#: attempt is immediate, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; 8 in all.
RETRY_DELAYS: tuple[dt.timedelta, ...] = (
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
#: Each wait is stretched or shrunk at random by up to this many thousandths (10%), so a
#: receiver coming back up is not hit by every retry in the same second.
JITTER_PER_MILLE = 100
#: Longest wait a receiver may ask for with Retry-After; a longer one is cut to this.
MAX_RETRY_AFTER = dt.timedelta(hours=24)
#: A Retry-After this far off (or more) is not an answer but noise or hostility: it is
#: ignored and the normal backoff applies.
NONSENSE_RETRY_AFTER = dt.timedelta(days=365)
#: More digits than this are never a wait under NONSENSE_RETRY_AFTER (read no further).
_MAX_DIGITS = 9
#: An endpoint that has answered nothing but failures for this long is disabled.
DISABLE_AFTER = dt.timedelta(days=5)
#: One attempt's lease is the request timeout plus this margin (an attempt lasts at most
#: about twice the timeout, which is at most 30 s); a worker that dies leaves its
#: deliveries to others once the lease runs out.
LEASE_MARGIN = dt.timedelta(seconds=30)
#: A batch's lease is one attempt's plus this window: attempts start only while a whole
#: attempt still fits in the lease, so a batch spends at most this long before the rest
#: is given back to be claimed again (by this worker or another).
BATCH_WINDOW = dt.timedelta(seconds=15)
#: Answers that ask us to slow down, and may say when to come back.
THROTTLED = frozenset({429, 503})


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


def _retry_after(value: str | None, now: dt.datetime) -> dt.timedelta | None:
    """Read a Retry-After header (delay-seconds or an HTTP date); None unless it makes sense.

    Only ASCII digits count as delay-seconds (`str.isdigit` also takes "²" and other
    scripts' digits, which `int` then refuses or reads). A wait of NONSENSE_RETRY_AFTER or
    more, or anything unreadable, is ignored, so the normal backoff applies: a receiver's
    answer never stops the worker.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        if len(value) > _MAX_DIGITS:
            return None
        asked = dt.timedelta(seconds=int(value))
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            asked = max(when - now, dt.timedelta(0))
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    return asked if asked < NONSENSE_RETRY_AFTER else None


def next_attempt_at(attempts: int, answer: network.Answer, now: dt.datetime) -> dt.datetime:
    """When to try again after the `attempts`-th attempt failed, with jitter and Retry-After."""
    base = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    spread = 1000 - JITTER_PER_MILLE + secrets.randbelow(2 * JITTER_PER_MILLE + 1)
    delay = base * spread / 1000
    if answer.status_code in THROTTLED:
        asked = _retry_after(answer.retry_after, now)
        if asked is not None:
            delay = max(delay, min(asked, MAX_RETRY_AFTER))
    return now + delay


def _record_failure(
    item: Sent, endpoint: WebhookEndpoint, now: dt.datetime, settle: set[int], *, mine: bool
) -> None:
    """Schedule what follows a failed attempt; disable the endpoint if it is time to."""
    answer = item.answer
    if mine:
        delivery = db.session.get(Delivery, item.job.delivery_id, populate_existing=True)
        if delivery is None:  # locked by the caller, so still there
            raise LookupError(f"delivery {item.job.delivery_id} vanished")
        delivery.last_attempt_at = item.at
        delivery.claimed_by = None
        delivery.claimed_until = None
        if answer.status_code == 410:
            disable_endpoint(endpoint, reason="The receiver answered 410 Gone.")
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            settle.add(delivery.message_id)
        else:
            delivery.next_attempt_at = next_attempt_at(delivery.attempts, answer, now)
    failing_since = endpoint.failing_since or item.at
    if endpoint.is_active and now - failing_since >= DISABLE_AFTER:
        disable_endpoint(
            endpoint,
            reason="No delivery succeeded for 5 days; the last attempt got "
            f"{answer.status_code or answer.error}.",
        )


def _failure(answer: network.Answer, exc: BaseException) -> str:
    """The delivery log's words for an attempt whose outcome could not be recorded."""
    got = answer.error or f"answered {answer.status_code}"
    return (
        f"{got}; recording it failed ({type(exc).__name__}: {exc}), so the message was "
        "marked failed instead of retried"
    )[:300]


def _fail_delivery(delivery_id: int, at: dt.datetime) -> None:
    """Mark a delivery failed for good, released: it is not sent again unless replayed."""
    values = {
        "status": DeliveryStatus.FAILED,
        "last_attempt_at": at,
        "claimed_by": None,
        "claimed_until": None,
    }
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    outbox.sync(Delivery, {delivery_id: values})


def _attempt(item: Sent, worker_id: str, notes: dict[int, str]) -> dict[str, Any]:
    return {
        "delivery_id": item.job.delivery_id,
        "attempted_at": item.at,
        "worker": worker_id[:100],
        "status_code": item.answer.status_code,
        "error": notes.get(item.job.delivery_id, item.answer.error),
        "latency_ms": item.answer.latency_ms,
        "response_excerpt": item.answer.excerpt,
    }


def record_batch(sent: Sequence[Sent], worker_id: str, *, unsent: Sequence[Job] = ()) -> None:
    """Record a batch's attempts and schedule what follows, in one transaction.

    The attempts go in with one bulk insert and the successes with one bulk update; failures
    (rare when receivers are up) take the row-by-row path. Success is 2xx only. 410 Gone
    disables the endpoint; so do five days without a success. If a lease ran out and
    another worker took a delivery over, a failure here only adds to the log: the delivery's
    schedule is the other worker's now. Jobs claimed but not sent are given back, their
    attempt uncounted. If one failure's outcome cannot be worked out (a bug, a hostile
    answer), that delivery alone is marked failed with the reason in its log. Commits.
    """
    now = clock.now()
    ids = [item.job.delivery_id for item in sent] + [job.delivery_id for job in unsent]
    if not ids:
        return
    rows = {
        row.id: row
        for row in db.session.execute(
            select(
                Delivery.id,
                Delivery.status,
                Delivery.attempts,
                Delivery.claimed_by,
                Delivery.message_id,
                Delivery.endpoint_id,
            )
            .where(Delivery.id.in_(ids))
            .with_for_update()
        )
    }

    def ours(delivery_id: int) -> bool:
        row = rows.get(delivery_id)
        return (
            row is not None and row.claimed_by == worker_id and row.status is DeliveryStatus.PENDING
        )

    quick = {"synchronize_session": False}
    given_back = [job.delivery_id for job in unsent if ours(job.delivery_id)]
    if given_back:
        db.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(given_back))
            .values(attempts=Delivery.attempts - 1, claimed_by=None, claimed_until=None)
            .execution_options(**quick)
        )
        outbox.sync(
            Delivery,
            {
                delivery_id: {
                    "attempts": rows[delivery_id].attempts - 1,
                    "claimed_by": None,
                    "claimed_until": None,
                }
                for delivery_id in given_back
            },
        )
    # A delivery deleted with its endpoint meanwhile has nothing left to log against.
    sent = [item for item in sent if item.job.delivery_id in rows]
    delivered = [
        item
        for item in sent
        if item.answer.is_success
        and rows[item.job.delivery_id].status is not DeliveryStatus.DELIVERED
    ]
    if delivered:
        changes: dict[int, dict[str, Any]] = {
            item.job.delivery_id: {
                "status": DeliveryStatus.DELIVERED,
                "delivered_at": now,
                "last_attempt_at": item.at,
                "claimed_by": None,
                "claimed_until": None,
            }
            for item in delivered
        }
        # One executemany: SQLAlchemy's bulk UPDATE by primary key.
        db.session.execute(
            update(Delivery), [{"id": row_id, **values} for row_id, values in changes.items()]
        )
        outbox.sync(Delivery, changes)
    settle = {rows[item.job.delivery_id].message_id for item in delivered}

    endpoints = {
        endpoint.id: endpoint
        for endpoint in db.session.scalars(
            select(WebhookEndpoint)
            .where(
                WebhookEndpoint.id.in_({rows[item.job.delivery_id].endpoint_id for item in sent})
            )
            .execution_options(populate_existing=True)
        )
    }
    #: Why an attempt's outcome could not be recorded, by delivery (see `_failure`).
    notes: dict[int, str] = {}
    for item in sent:
        row = rows[item.job.delivery_id]
        endpoint = endpoints[row.endpoint_id]
        if item.answer.is_success:
            endpoint.last_success_at = item.at
            endpoint.failing_since = None
            continue
        endpoint.failing_since = endpoint.failing_since or item.at
        try:
            # One failure's outcome (its schedule, a disabling) is worked out apart from the
            # batch's: whatever goes wrong with it undoes it alone.
            with db.session.begin_nested():
                _record_failure(item, endpoint, now, settle, mine=ours(row.id))
        except Exception as exc:
            log.exception("delivery %s: the attempt's outcome failed", row.id)
            notes[row.id] = _failure(item.answer, exc)
            if ours(row.id):
                _fail_delivery(row.id, item.at)
                settle.add(row.message_id)
    if sent:
        db.session.execute(insert(DeliveryAttempt), [_attempt(i, worker_id, notes) for i in sent])
    outbox.settle_messages(settle, now)
    db.session.commit()


def record(job: Job, answer: network.Answer, worker_id: str) -> None:
    """Record one attempt alone (see `record_batch`)."""
    record_batch([Sent(job, clock.now(), answer)], worker_id)


def deliver_due(
    worker_id: str,
    *,
    limit: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    sender: network.Sender | None = None,
) -> int:
    """Send due deliveries batch by batch until none is due, `limit` is reached or asked to stop.

    Each batch (WEBHOOK_BATCH_SIZE deliveries) is claimed in one transaction, sent over
    kept-alive connections with no transaction open, and recorded in one more (message by
    message if the batch cannot be). Returns how many attempts were made.
    """
    size = max(1, int(current_app.config["WEBHOOK_BATCH_SIZE"]))
    own_sender = sender is None
    sender = sender or network.Sender()
    done = 0
    try:
        while limit is None or done < limit:
            if should_stop is not None and should_stop():
                break
            jobs = claim_batch(worker_id, size if limit is None else min(size, limit - done))
            if not jobs:
                break
            sent, unsent = send_batch(jobs, sender=sender, should_stop=should_stop)
            try:
                record_batch(sent, worker_id, unsent=unsent)
            except Exception:
                # What was sent must be recorded, or it is sent again: one by one, then.
                log.exception("recording a batch of %s attempts failed", len(sent))
                db.session.rollback()
                _record_one_by_one(sent, unsent, worker_id)
            for item in sent:
                log.info(
                    "delivery %s attempt %s: %s",
                    item.job.delivery_id,
                    item.job.attempt,
                    item.answer.status_code or item.answer.error,
                )
            done += len(sent)
            if not sent:
                break
    finally:
        if own_sender:
            sender.close()
    return done


def _record_one_by_one(sent: Sequence[Sent], unsent: Sequence[Job], worker_id: str) -> None:
    """Record each attempt in its own transaction; one that cannot be is failed with why."""
    for item in sent:
        try:
            record_batch([item], worker_id)
        except Exception as exc:
            log.exception("recording delivery %s failed", item.job.delivery_id)
            db.session.rollback()
            try:
                _record_as_failed(item, worker_id, _failure(item.answer, exc))
            except Exception:
                # Nothing more can be done now; the lease runs out and the delivery is due.
                log.exception("delivery %s could not be marked failed", item.job.delivery_id)
                db.session.rollback()
    try:
        record_batch([], worker_id, unsent=unsent)
    except Exception:
        # Unsent jobs come back when their lease runs out anyway.
        log.exception("giving back %s unsent deliveries failed", len(unsent))
        db.session.rollback()


def _record_as_failed(item: Sent, worker_id: str, reason: str) -> None:
    """Log the attempt with `reason` and fail its delivery (if still ours) and message. Commits."""
    row = db.session.execute(
        select(Delivery.claimed_by, Delivery.status, Delivery.message_id)
        .where(Delivery.id == item.job.delivery_id)
        .with_for_update()
    ).one_or_none()
    if row is not None:
        db.session.execute(
            insert(DeliveryAttempt), [_attempt(item, worker_id, {item.job.delivery_id: reason})]
        )
        if row.claimed_by == worker_id and row.status is DeliveryStatus.PENDING:
            _fail_delivery(item.job.delivery_id, item.at)
            outbox.settle_messages({row.message_id}, clock.now())
    db.session.commit()
