"""Recording attempts and scheduling retries: the second half of delivering the outbox.

What came back from a batch is recorded in one transaction: the attempts, the successes,
and for each failure its next attempt (with backoff, jitter and the receiver's Retry-After),
or its end (retries exhausted, 410 Gone, five days of failures). `record_batch` commits
(the worker calls it); the rest never do. One attempt whose outcome cannot be worked out
is marked failed alone, with the reason in its log: what was sent is always recorded.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update

from portal import clock
from portal.db import db
from portal.postings import network, outbox
from portal.postings.endpoints import disable_endpoint
from portal.postings.models import Delivery, DeliveryAttempt, DeliveryStatus, WebhookEndpoint
from portal.postings.sending import Job, Sent

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
#: Answers that ask us to slow down, and may say when to come back.
THROTTLED = frozenset({429, 503})


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
    """Record one attempt alone (see `record_batch`). Commits."""
    record_batch([Sent(job, clock.now(), answer)], worker_id)


def record_one_by_one(sent: Sequence[Sent], unsent: Sequence[Job], worker_id: str) -> None:
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
