"""Telling firms' back offices what happened: register endpoints, queue postings, deliver them.

Queueing happens inside the caller's transaction and never commits, so a posting exists
exactly when the payment change it reports does (a transactional outbox). Delivery is a
separate worker (`flask --app portal deliver-webhooks`): it claims a batch of due deliveries
in a short transaction with a lease, sends them over kept-alive connections with no
transaction open, then records the attempts and schedules what follows in one more
transaction. Several workers may run at once.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import secrets
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template
from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from portal import clock
from portal.db import db
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.firms.models import Firm
from portal.links.models import LinkDelivery
from portal.mail import compose, send_after_commit
from portal.payments.models import Charge, ChargeStatus, Payment
from portal.postings import network, payloads, signing
from portal.postings.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    MessageStatus,
    OutboundMessage,
    WebhookEndpoint,
)
from portal.templating import locale_scope
from portal.trust_requests.models import TrustRequest

log = logging.getLogger(__name__)
S = ChargeStatus

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
#: Longest wait a receiver may ask for with Retry-After.
MAX_RETRY_AFTER = dt.timedelta(hours=24)
#: An endpoint that has answered nothing but failures for this long is disabled.
DISABLE_AFTER = dt.timedelta(days=5)
#: After a rotation the previous secret keeps signing this long.
ROTATION_OVERLAP = dt.timedelta(hours=24)
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

_ALPHABET = string.ascii_letters + string.digits


def _public_id(prefix: str, length: int = 24) -> str:
    # Letters and digits only: Standard Webhooks ids must not contain "." and some
    # receivers use them in paths.
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _firm(firm_id: int) -> Firm:
    firm = db.session.get(Firm, firm_id)
    if firm is None:  # every row here keeps its firm through a foreign key
        raise LookupError(f"firm {firm_id} vanished")
    return firm


def _allow_private() -> bool:
    return bool(current_app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"])


# -- endpoints -------------------------------------------------------------------------------


def _clean_event_types(event_types: Iterable[str] | None) -> str | None:
    if event_types is None:
        return None
    wanted = sorted(set(event_types))
    known = payloads.EVENT_TYPES
    families = {name.split(".", 1)[0] for name in known if "." in name}
    errors = []
    for n, name in enumerate(wanted):
        if name in known:
            continue
        if name.endswith(".*") and name[:-2] in families:
            continue
        errors.append({"pointer": f"/event_types/{n}", "detail": f"unknown event type {name!r}"})
    if errors:
        raise ValidationFailed("unknown event types", errors=errors)
    return json.dumps(wanted)


def wants(endpoint: WebhookEndpoint, type_: str) -> bool:
    """Whether the endpoint subscribed to `type_` (no filter means every type)."""
    if endpoint.event_types is None:
        return True
    for pattern in json.loads(endpoint.event_types):
        if pattern == type_ or (pattern.endswith(".*") and type_.startswith(pattern[:-1])):
            return True
    return False


def register_endpoint(
    firm: Firm, *, url: str, description: str = "", event_types: Iterable[str] | None = None
) -> WebhookEndpoint:
    """Add a receiving URL for the firm with a fresh secret (not committed).

    Raises `network.UnsafeTarget` unless the URL is https and its host resolves only to
    public addresses. The secret is on the returned row; show it to the firm.
    """
    target = network.check_url(url, allow_private=_allow_private())
    endpoint = WebhookEndpoint(
        public_id=_public_id("ep_"),
        firm_id=firm.id,
        url=target.url,
        description=description[:300],
        event_types=_clean_event_types(event_types),
        secret=signing.new_secret(),
        created_at=clock.now(),
    )
    db.session.add(endpoint)
    db.session.flush()
    return endpoint


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    """Give the endpoint a new secret; the old one keeps signing for 24 hours (not committed)."""
    now = clock.now()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret = signing.new_secret()
    return endpoint.secret


def signing_secrets(endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous while it lasts."""
    keys = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and now < expires:
        keys.append(endpoint.previous_secret)
    return keys


def disable_endpoint(endpoint: WebhookEndpoint, *, reason: str) -> None:
    """Stop sending to an endpoint, tell the firm by email and its other endpoints (not committed).

    Deliveries still pending are kept as "disabled", so re-enabling the endpoint sends them.
    """
    if endpoint.disabled_at is not None:
        return
    now = clock.now()
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason[:300]
    stopped = list(
        db.session.scalars(
            select(Delivery.message_id).where(
                Delivery.endpoint_id == endpoint.id, Delivery.status == DeliveryStatus.PENDING
            )
        )
    )
    db.session.execute(
        update(Delivery)
        .where(Delivery.endpoint_id == endpoint.id, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.DISABLED, claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session="fetch")
    )
    for message_id in stopped:
        _settle_message(message_id, now)
    firm = _firm(endpoint.firm_id)
    if firm.notify_email:
        _queue_disabled_email(firm, endpoint)
    _enqueue(
        firm=firm,
        type_=payloads.ENDPOINT_DISABLED,
        data={
            "endpoint_id": endpoint.public_id,
            "url": endpoint.url,
            "reason": endpoint.disabled_reason,
            "disabled_at": payloads.iso_instant(now),
        },
    )


def _queue_disabled_email(firm: Firm, endpoint: WebhookEndpoint) -> None:
    """Tell the firm's notification address that `endpoint` was disabled, once this commits."""
    if not firm.notify_email:
        return
    context = {
        "firm_name": firm.name,
        "url": endpoint.url,
        "endpoint_id": endpoint.public_id,
        "reason": endpoint.disabled_reason or "",
    }
    with locale_scope(None):  # firms have no language of their own yet
        subject = render_template("email/endpoint_disabled/subject.txt", **context).strip()
        text = render_template("email/endpoint_disabled/body.txt", **context)
        html = render_template("email/endpoint_disabled/body.html", **context)
    send_after_commit(compose(to=firm.notify_email, subject=subject, text=text, html=html))


def enable_endpoint(endpoint: WebhookEndpoint) -> int:
    """Turn a disabled endpoint back on and resend what its disabling stopped (not committed).

    Returns how many deliveries were queued again, oldest first.
    """
    now = clock.now()
    endpoint.disabled_at = None
    endpoint.disabled_reason = None
    endpoint.failing_since = None
    waiting = list(
        db.session.scalars(
            select(Delivery)
            .where(Delivery.endpoint_id == endpoint.id, Delivery.status == DeliveryStatus.DISABLED)
            .order_by(Delivery.id)
        )
    )
    for delivery in waiting:
        delivery.status = DeliveryStatus.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = now
        message = delivery.message
        if message.status is MessageStatus.FAILED:
            message.status = MessageStatus.PENDING
    return len(waiting)


def send_ping(endpoint: WebhookEndpoint) -> OutboundMessage:
    """Queue a `ping` for this endpoint only, to test the receiver (not committed)."""
    firm = _firm(endpoint.firm_id)
    return _enqueue(
        firm=firm,
        type_=payloads.PING,
        data={"endpoint_id": endpoint.public_id, "message": "MatterPay can reach you."},
        only=endpoint,
    )


# -- queueing --------------------------------------------------------------------------------


def _next_sequence(payment_id: int) -> int:
    """The payment's next message number, with the payment row locked until commit.

    The lock (FOR UPDATE on PostgreSQL; SQLite's writers are serialised anyway) keeps two
    transactions about the same payment from taking the same number; the unique constraint
    would refuse that, but waiting is kinder than failing.
    """
    db.session.execute(select(Payment.id).where(Payment.id == payment_id).with_for_update())
    last = db.session.scalar(
        select(OutboundMessage.sequence)
        .where(OutboundMessage.payment_id == payment_id)
        .order_by(OutboundMessage.sequence.desc())
        .limit(1)
    )
    return (last or 0) + 1


def _fan_out(message: OutboundMessage, now: dt.datetime, only: WebhookEndpoint | None) -> None:
    """Create one delivery per active endpoint that wants the message."""
    if only is not None:
        endpoints = [only] if only.is_active else []
    else:
        endpoints = [
            endpoint
            for endpoint in db.session.scalars(
                select(WebhookEndpoint)
                .where(
                    WebhookEndpoint.firm_id == message.firm_id,
                    WebhookEndpoint.disabled_at.is_(None),
                )
                .order_by(WebhookEndpoint.id)
            )
            if wants(endpoint, message.type)
        ]
    for endpoint in endpoints:
        message.deliveries.append(
            Delivery(
                endpoint_id=endpoint.id,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )


def _enqueue(
    *,
    firm: Firm,
    type_: str,
    data: dict[str, Any],
    payment_id: int | None = None,
    charge_id: int | None = None,
    hold: bool = False,
    only: WebhookEndpoint | None = None,
) -> OutboundMessage:
    now = clock.now()
    msg_id = _public_id("msg_")
    sequence = _next_sequence(payment_id) if payment_id is not None else None
    message = OutboundMessage(
        public_id=msg_id,
        firm_id=firm.id,
        type=type_,
        payload=payloads.body(
            msg_id=msg_id, type_=type_, occurred_at=now, sequence=sequence, data=data
        ),
        payment_id=payment_id,
        charge_id=charge_id,
        sequence=sequence,
        endpoint_id=only.id if only is not None else None,
        status=MessageStatus.HELD if hold else MessageStatus.PENDING,
        created_at=now,
        released_at=None if hold else now,
    )
    db.session.add(message)
    if not hold:
        _fan_out(message, now, only)
    return message


def enqueue_for_charge(
    charge: Charge,
    event_type: str,
    *,
    ar_note: str | None = None,
    extra: dict[str, Any] | None = None,
) -> OutboundMessage:
    """Queue a payment posting about `charge` in the caller's transaction (never commits).

    The body is built now, from the charge as it stands, and sent as is however late the
    back office takes it. A firm that posts by hand (auto_post off) gets it held until released.
    """
    if event_type not in payloads.PAYMENT_EVENTS:
        raise ValueError(f"{event_type!r} is not a payment event")
    firm = _firm(charge.firm_id)
    data = payloads.charge_data(
        charge,
        firm=firm,
        default_ar_message=str(current_app.config["WEBHOOK_DEFAULT_AR_MESSAGE"]),
        ar_note=ar_note,
    )
    data.update(extra or {})
    return _enqueue(
        firm=firm,
        type_=event_type,
        data=data,
        payment_id=charge.payment_id,
        charge_id=charge.id,
        hold=not firm.auto_post,
    )


def posting_type(before: ChargeStatus, to: ChargeStatus) -> str | None:
    """The posting a charge's move calls for, or None when the back office has nothing to book.

    A card declined on the spot was never posted, so its failure is not either; a bank
    debit that failed after "processing" was, and is.
    """
    if to is S.PROCESSING:
        return payloads.PAYMENT_PROCESSING
    if to is S.SUCCEEDED:
        return payloads.PAYMENT_DISPUTE_WON if before is S.DISPUTED else payloads.PAYMENT_SUCCEEDED
    if to in (S.FAILED, S.CANCELED):
        return payloads.PAYMENT_FAILED if before is S.PROCESSING else None
    if to in (S.PARTIALLY_REFUNDED, S.REFUNDED):
        return payloads.PAYMENT_REFUNDED
    if to is S.RETURNED:
        return payloads.PAYMENT_RETURNED
    if to is S.DISPUTED:
        return payloads.PAYMENT_DISPUTED
    return None


def enqueue_for_transition(
    charge: Charge,
    *,
    before: ChargeStatus,
    to: ChargeStatus,
    source_ref: str | None = None,
    reason: str = "",
    amount_minor: int | None = None,
) -> OutboundMessage | None:
    """Queue the posting for a charge that just moved from `before` to `to` (never commits).

    Meant to be called by `payments.services.transition` after the move's money effects,
    in the same transaction.
    """
    type_ = posting_type(before, to)
    if type_ is None:
        return None
    extra: dict[str, Any] = {}
    if type_ == payloads.PAYMENT_REFUNDED:
        extra["refund"] = payloads.refund_data(charge, source_ref, amount_minor)
    elif type_ == payloads.PAYMENT_FAILED:
        extra["failure"] = {"code": charge.failure_code, "message": charge.failure_message}
    elif type_ in (payloads.PAYMENT_RETURNED, payloads.PAYMENT_DISPUTED):
        extra["reversal"] = {
            "amount_minor": (
                amount_minor
                if amount_minor is not None
                else charge.amount_minor - charge.refunded_minor
            ),
            "reason": reason,
        }
    elif type_ == payloads.PAYMENT_DISPUTE_WON:
        extra["dispute"] = {"outcome": "won", "reason": reason}
    return enqueue_for_charge(charge, type_, extra=extra)


def enqueue_trust_shortfall(
    charge: Charge, *, matter_id: int, balance_minor: int
) -> OutboundMessage:
    """Tell the back office a reversal took a matter's trust below zero (never commits).

    This is an alarm, not a posting: it is never held, even for firms that post by hand.
    """
    firm = _firm(charge.firm_id)
    return _enqueue(
        firm=firm,
        type_=payloads.TRUST_SHORTFALL,
        data=payloads.trust_shortfall_data(
            charge, matter_id=matter_id, balance_minor=balance_minor
        ),
        payment_id=charge.payment_id,
        charge_id=charge.id,
    )


def enqueue_trust_request_paid(request: TrustRequest, *, charge: Charge | None) -> OutboundMessage:
    """Tell the back office a trust request was paid in full (never commits).

    `charge` is the one whose move completed it; the message then takes the next number in
    that payment's sequence, after the payment's own posting. Not held for firms that post
    by hand: it books nothing, the payment's posting does.
    """
    return _enqueue(
        firm=_firm(request.firm_id),
        type_=payloads.TRUST_REQUEST_PAID,
        data=payloads.trust_request_data(request, charge),
        payment_id=charge.payment_id if charge is not None else None,
        charge_id=charge.id if charge is not None else None,
    )


def enqueue_link_delivery_failed(delivery: LinkDelivery) -> OutboundMessage:
    """Tell the firm's back office a link email could not be sent (never commits).

    A notice for a person to act on (call the client, fix the address), so it is never held.
    """
    return _enqueue(
        firm=_firm(delivery.firm_id),
        type_=payloads.LINK_DELIVERY_FAILED,
        data=payloads.link_delivery_failed_data(delivery),
    )


def held_messages(firm: Firm) -> list[OutboundMessage]:
    """The firm's postings waiting to be released, oldest first."""
    return list(
        db.session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.firm_id == firm.id, OutboundMessage.status == MessageStatus.HELD)
            .order_by(OutboundMessage.id)
        )
    )


def release(firm: Firm, message_ids: Sequence[str] | None = None) -> list[OutboundMessage]:
    """Release held postings (the given public ids, or all when None) for delivery (not committed).

    Ids that are not this firm's held postings are ignored; the released ones are returned.
    """
    query = select(OutboundMessage).where(
        OutboundMessage.firm_id == firm.id, OutboundMessage.status == MessageStatus.HELD
    )
    if message_ids is not None:
        query = query.where(OutboundMessage.public_id.in_(list(message_ids)))
    now = clock.now()
    released = list(db.session.scalars(query.order_by(OutboundMessage.id)))
    for message in released:
        message.status = MessageStatus.PENDING
        message.released_at = now
        _fan_out(message, now, None)
    return released


# -- delivering ------------------------------------------------------------------------------


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


def _sync(model: type[Any], changes: dict[int, dict[str, Any]]) -> None:
    """Copy what bulk statements wrote onto the rows this session has loaded, if any.

    Bulk statements bypass the session; a long-lived session (or a test's) would otherwise
    keep showing the values from before.
    """
    for row_id, values in changes.items():
        loaded = db.session.identity_map.get(db.session.identity_key(model, row_id))
        if loaded is not None:
            for name, value in values.items():
                set_committed_value(loaded, name, value)


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
    _sync(
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
            checked = network.check_url(job.url, allow_private=_allow_private())
        except network.UnsafeTarget as exc:
            checked = network.Answer(None, "", 0, error=f"refused: {exc.detail}"[:300])
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
    """Read a Retry-After header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return dt.timedelta(seconds=int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(when - now, dt.timedelta(0))


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


def _settle_message(message_id: int, now: dt.datetime) -> None:
    """Mark a message delivered or failed once none of its deliveries is still pending."""
    statuses = set(
        db.session.scalars(select(Delivery.status).where(Delivery.message_id == message_id))
    )
    if not statuses or DeliveryStatus.PENDING in statuses:
        return
    message = db.session.get(OutboundMessage, message_id, populate_existing=True)
    if message is None:
        return
    if statuses == {DeliveryStatus.DELIVERED}:
        message.status = MessageStatus.DELIVERED
        message.delivered_at = message.delivered_at or now
    else:
        message.status = MessageStatus.FAILED


def record_batch(sent: Sequence[Sent], worker_id: str, *, unsent: Sequence[Job] = ()) -> None:
    """Record a batch's attempts and schedule what follows, in one transaction.

    The attempts go in with one bulk insert and the successes with one bulk update; failures
    (rare when receivers are up) take the row-by-row path. Success is 2xx only. 410 Gone
    disables the endpoint; so do five days without a success. If a lease ran out and
    another worker took a delivery over, a failure here only adds to the log: the delivery's
    schedule is the other worker's now. Jobs claimed but not sent are given back, their
    attempt uncounted.
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
        _sync(
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
    if sent:
        db.session.execute(
            insert(DeliveryAttempt),
            [
                {
                    "delivery_id": item.job.delivery_id,
                    "attempted_at": item.at,
                    "worker": worker_id[:100],
                    "status_code": item.answer.status_code,
                    "error": item.answer.error,
                    "latency_ms": item.answer.latency_ms,
                    "response_excerpt": item.answer.excerpt,
                }
                for item in sent
            ],
        )
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
        _sync(Delivery, changes)
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
    for item in sent:
        row = rows[item.job.delivery_id]
        endpoint = endpoints[row.endpoint_id]
        answer = item.answer
        if answer.is_success:
            endpoint.last_success_at = item.at
            endpoint.failing_since = None
            continue
        endpoint.failing_since = endpoint.failing_since or item.at
        if ours(row.id):
            delivery = db.session.get(Delivery, row.id, populate_existing=True)
            if delivery is None:  # locked above, so still there
                raise LookupError(f"delivery {row.id} vanished")
            delivery.last_attempt_at = item.at
            delivery.claimed_by = None
            delivery.claimed_until = None
            if answer.status_code == 410:
                disable_endpoint(endpoint, reason="The receiver answered 410 Gone.")
            elif delivery.attempts >= MAX_ATTEMPTS:
                delivery.status = DeliveryStatus.FAILED
                settle.add(row.message_id)
            else:
                delivery.next_attempt_at = next_attempt_at(delivery.attempts, answer, now)
        if endpoint.is_active and now - endpoint.failing_since >= DISABLE_AFTER:
            disable_endpoint(
                endpoint,
                reason="No delivery succeeded for 5 days; the last attempt got "
                f"{answer.status_code or answer.error}.",
            )
    _settle_messages(settle, now)
    db.session.commit()


def _settle_messages(message_ids: set[int], now: dt.datetime) -> None:
    """`_settle_message` for many messages in three statements."""
    if not message_ids:
        return
    statuses: dict[int, set[DeliveryStatus]] = {}
    for message_id, status in db.session.execute(
        select(Delivery.message_id, Delivery.status).where(Delivery.message_id.in_(message_ids))
    ):
        statuses.setdefault(message_id, set()).add(status)
    done = [m for m, seen in statuses.items() if seen == {DeliveryStatus.DELIVERED}]
    changes: dict[int, dict[str, Any]] = {
        message_id: {"status": MessageStatus.FAILED}
        for message_id, seen in statuses.items()
        if DeliveryStatus.PENDING not in seen and message_id not in done
    }
    if done:
        for message_id, delivered_at in db.session.execute(
            select(OutboundMessage.id, OutboundMessage.delivered_at).where(
                OutboundMessage.id.in_(done)
            )
        ):
            changes[message_id] = {
                "status": MessageStatus.DELIVERED,
                "delivered_at": delivered_at or now,
            }
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for message_id, values in changes.items():
        by_shape.setdefault(tuple(values), []).append({"id": message_id, **values})
    for params in by_shape.values():
        db.session.execute(update(OutboundMessage), params)
    _sync(OutboundMessage, changes)


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
    kept-alive connections with no transaction open, and recorded in one more. Returns how
    many attempts were made.
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
            record_batch(sent, worker_id, unsent=unsent)
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


def purge_delivered() -> int:
    """Delete delivered messages older than WEBHOOK_RETENTION_DAYS, with their log. Commits.

    Held, pending and failed messages are kept whatever their age: they are still owed.
    """
    days = int(current_app.config["WEBHOOK_RETENTION_DAYS"])
    cutoff = clock.now() - dt.timedelta(days=max(days, 30))
    old = select(OutboundMessage.id).where(
        OutboundMessage.status == MessageStatus.DELIVERED, OutboundMessage.created_at < cutoff
    )
    deliveries = select(Delivery.id).where(Delivery.message_id.in_(old))
    quick = {"synchronize_session": False}
    db.session.execute(
        delete(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id.in_(deliveries))
        .execution_options(**quick)
    )
    db.session.execute(
        delete(Delivery).where(Delivery.message_id.in_(old)).execution_options(**quick)
    )
    result = db.session.execute(
        delete(OutboundMessage).where(OutboundMessage.id.in_(old)).execution_options(**quick)
    )
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# -- for the API: lookups, pages, edits and replays ------------------------------------------


def endpoint_for_firm(firm_id: int, public_id: str) -> WebhookEndpoint:
    """The firm's endpoint `public_id`, or NotFound (another firm's is not found either)."""
    endpoint = db.session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.firm_id == firm_id, WebhookEndpoint.public_id == public_id
        )
    )
    if endpoint is None:
        raise NotFound("No webhook endpoint with this id.")
    return endpoint


def message_for_firm(firm_id: int, public_id: str) -> OutboundMessage:
    """The firm's message `public_id` (its webhook-id), or NotFound."""
    message = db.session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.firm_id == firm_id, OutboundMessage.public_id == public_id
        )
    )
    if message is None:
        raise NotFound("No webhook message with this id.")
    return message


def _keyset(
    statement: Any, id_column: Any, after_id: int | None, limit: int
) -> tuple[list[Any], int | None]:
    if after_id is not None:
        statement = statement.where(id_column > after_id)
    rows = list(db.session.scalars(statement.order_by(id_column).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, rows[-1].id


def endpoints_page(
    firm_id: int, *, after_id: int | None, limit: int
) -> tuple[list[WebhookEndpoint], int | None]:
    """A page of the firm's endpoints in id order, and the id to continue after (or None)."""
    statement = select(WebhookEndpoint).where(WebhookEndpoint.firm_id == firm_id)
    return _keyset(statement, WebhookEndpoint.id, after_id, limit)


def messages_page(
    firm_id: int, *, status: MessageStatus | None, after_id: int | None, limit: int
) -> tuple[list[OutboundMessage], int | None]:
    """A page of the firm's messages in id order, of one status if given."""
    statement = select(OutboundMessage).where(OutboundMessage.firm_id == firm_id)
    if status is not None:
        statement = statement.where(OutboundMessage.status == status)
    return _keyset(statement, OutboundMessage.id, after_id, limit)


def payment_public_ids(payment_ids: Iterable[int | None]) -> dict[int, str]:
    """Public ids of the given payments, by row id."""
    wanted = {payment_id for payment_id in payment_ids if payment_id is not None}
    if not wanted:
        return {}
    rows = db.session.execute(select(Payment.id, Payment.public_id).where(Payment.id.in_(wanted)))
    return {row_id: public_id for row_id, public_id in rows}


def update_endpoint(
    endpoint: WebhookEndpoint,
    *,
    url: str | None = None,
    description: str | None = None,
    event_types: Iterable[str] | None = None,
    set_event_types: bool = False,
) -> None:
    """Change an endpoint's URL (checked like at registration), description or event types
    (`set_event_types` with None means every type). Not committed."""
    if url is not None:
        endpoint.url = network.check_url(url, allow_private=_allow_private()).url
    if description is not None:
        endpoint.description = description[:300]
    if set_event_types:
        endpoint.event_types = _clean_event_types(event_types)


def pause_endpoint(endpoint: WebhookEndpoint, *, reason: str) -> None:
    """Stop sending to an endpoint at the firm's own request, quietly (not committed).

    Like `disable_endpoint` but with no email and no `endpoint.disabled` notice: pending
    deliveries are kept as "disabled", so re-enabling sends them.
    """
    if endpoint.disabled_at is not None:
        return
    now = clock.now()
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason[:300]
    stopped = list(
        db.session.scalars(
            select(Delivery).where(
                Delivery.endpoint_id == endpoint.id, Delivery.status == DeliveryStatus.PENDING
            )
        )
    )
    for delivery in stopped:
        delivery.status = DeliveryStatus.DISABLED
        delivery.claimed_by = None
        delivery.claimed_until = None
    db.session.flush()
    for delivery in stopped:
        _settle_message(delivery.message_id, now)


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint with its deliveries, their log and its pings (not committed).

    Nothing more is sent to it; messages other endpoints take are left alone.
    """
    deliveries = select(Delivery.id).where(Delivery.endpoint_id == endpoint.id)
    pings = select(OutboundMessage.id).where(OutboundMessage.endpoint_id == endpoint.id)
    quick = {"synchronize_session": False}
    db.session.execute(
        delete(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id.in_(deliveries))
        .execution_options(**quick)
    )
    db.session.execute(
        delete(Delivery)
        .where(or_(Delivery.endpoint_id == endpoint.id, Delivery.message_id.in_(pings)))
        .execution_options(**quick)
    )
    db.session.execute(
        delete(OutboundMessage)
        .where(OutboundMessage.endpoint_id == endpoint.id)
        .execution_options(**quick)
    )
    db.session.delete(endpoint)
    db.session.flush()
    db.session.expire_all()


def _requeue(message: OutboundMessage, endpoint: WebhookEndpoint, now: dt.datetime) -> bool:
    """Send `message` to `endpoint` again under the same webhook-id; False if already queued."""
    delivery = db.session.scalar(
        select(Delivery).where(
            Delivery.message_id == message.id, Delivery.endpoint_id == endpoint.id
        )
    )
    if delivery is None:
        message.deliveries.append(
            Delivery(
                endpoint_id=endpoint.id,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    elif delivery.status is DeliveryStatus.PENDING:
        return False  # already on its way; resetting it could race a worker holding it
    else:
        delivery.status = DeliveryStatus.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = now
        delivery.delivered_at = None
        delivery.claimed_by = None
        delivery.claimed_until = None
    message.status = MessageStatus.PENDING
    message.delivered_at = None
    return True


def _held(message: OutboundMessage) -> None:
    if message.status is MessageStatus.HELD:
        raise Conflict(f"{message.public_id} is held: release it instead of replaying it.")


def replay_message(message: OutboundMessage) -> list[WebhookEndpoint]:
    """Queue `message` again, same webhook-id, for every enabled endpoint that wants it (a
    ping only for its own endpoint). Returns the endpoints it goes to. Not committed."""
    _held(message)
    now = clock.now()
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.firm_id == message.firm_id, WebhookEndpoint.disabled_at.is_(None)
    )
    if message.endpoint_id is not None:
        query = query.where(WebhookEndpoint.id == message.endpoint_id)
    targets = [
        endpoint
        for endpoint in db.session.scalars(query.order_by(WebhookEndpoint.id))
        if wants(endpoint, message.type)
    ]
    for endpoint in targets:
        _requeue(message, endpoint, now)
    return targets


#: The most messages one `replay_since` call queues again; the answer says when it stopped
#: short and from when to continue.
REPLAY_LIMIT = 1000


@dataclass(frozen=True)
class Replay:
    """What `replay_since` queued, and where it stopped if it hit REPLAY_LIMIT."""

    messages: list[OutboundMessage]
    #: Whether more messages were due than one call queues.
    capped: bool
    #: With `capped`: the created_at of the first message left out; replay again from it.
    next_since: dt.datetime | None


def replay_window() -> dt.timedelta:
    """How far back a replay may reach: no further than messages are surely kept."""
    return dt.timedelta(days=max(int(current_app.config["WEBHOOK_RETENTION_DAYS"]), 30))


def replay_since(endpoint: WebhookEndpoint, since: dt.datetime) -> Replay:
    """Queue again for `endpoint` every released message of its firm created at or after
    `since` that it wants, oldest first, at most REPLAY_LIMIT of them. Not committed.

    `since` older than the retention period is refused (ValidationFailed): delivered
    messages older than that may have been purged, so the replay could not be complete.
    """
    if not endpoint.is_active:
        raise Conflict("The endpoint is disabled: enable it before replaying to it.")
    now = clock.now()
    window = replay_window()
    if since < now - window:
        raise ValidationFailed(
            f"since may reach back at most {window.days} days: older messages may have been "
            "purged.",
            errors=[
                {
                    "parameter": "since",
                    "detail": f"must be at or after {payloads.iso_instant(now - window)}",
                }
            ],
        )
    query = select(OutboundMessage).where(
        OutboundMessage.firm_id == endpoint.firm_id,
        OutboundMessage.created_at >= since,
        OutboundMessage.status != MessageStatus.HELD,
        or_(OutboundMessage.endpoint_id.is_(None), OutboundMessage.endpoint_id == endpoint.id),
    )
    replayed: list[OutboundMessage] = []
    after = 0
    while True:  # in pages, so a month of postings is never loaded at once
        page = list(
            db.session.scalars(
                query.where(OutboundMessage.id > after).order_by(OutboundMessage.id).limit(500)
            )
        )
        for message in page:
            if not wants(endpoint, message.type):
                continue
            if len(replayed) == REPLAY_LIMIT:
                return Replay(replayed, capped=True, next_since=message.created_at)
            _requeue(message, endpoint, now)
            replayed.append(message)
        if len(page) < 500:
            return Replay(replayed, capped=False, next_since=None)
        after = page[-1].id
