"""The outbox itself: queue messages, hold and release them, replay them, purge the old.

Features hand the outbox a ready event (`enqueue(firm_id=..., event_type=..., data=...)`);
it never reads their rows. Queueing happens inside the caller's transaction and never
commits, so a message exists exactly when the change it reports does (a transactional
outbox). The firm's own operations on messages (`release_held`, `replay_message`) are use
cases that commit; so does the purge. Delivery is `portal.postings.delivery`; endpoints
are `portal.postings.endpoints`.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import column, delete, or_, select, table, update
from sqlalchemy.orm.attributes import set_committed_value

from portal import clock
from portal.db import db
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.firms.models import Firm
from portal.postings import payloads
from portal.postings.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    MessageStatus,
    OutboundMessage,
    WebhookEndpoint,
)

_ALPHABET = string.ascii_letters + string.digits

#: The payments table, named only to lock the row a message's `payment_id` points at while
#: its sequence number is taken; nothing of it is read (postings imports no feature).
_PAYMENTS = table("payments", column("id"))


def public_id(prefix: str, length: int = 24) -> str:
    """A fresh public reference: `prefix` and `length` letters and digits."""
    # Letters and digits only: Standard Webhooks ids must not contain "." and some
    # receivers use them in paths.
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def firm_of(firm_id: int) -> Firm:
    firm = db.session.get(Firm, firm_id)
    if firm is None:  # every row here keeps its firm through a foreign key
        raise LookupError(f"firm {firm_id} vanished")
    return firm


def wants(endpoint: WebhookEndpoint, type_: str) -> bool:
    """Whether the endpoint subscribed to `type_` (no filter means every type)."""
    if endpoint.event_types is None:
        return True
    for pattern in json.loads(endpoint.event_types):
        if pattern == type_ or (pattern.endswith(".*") and type_.startswith(pattern[:-1])):
            return True
    return False


def sync(model: type[Any], changes: dict[int, dict[str, Any]]) -> None:
    """Copy what bulk statements wrote onto the rows this session has loaded, if any.

    Bulk statements bypass the session; a long-lived session (or a test's) would otherwise
    keep showing the values from before.
    """
    for row_id, values in changes.items():
        loaded = db.session.identity_map.get(db.session.identity_key(model, row_id))
        if loaded is not None:
            for name, value in values.items():
                set_committed_value(loaded, name, value)


# -- queueing --------------------------------------------------------------------------------


def _next_sequence(payment_id: int) -> int:
    """The payment's next message number, with the payment row locked until commit.

    The lock (FOR UPDATE on PostgreSQL; SQLite's writers are serialised anyway) keeps two
    transactions about the same payment from taking the same number; the unique constraint
    would refuse that, but waiting is kinder than failing.
    """
    db.session.execute(select(_PAYMENTS.c.id).where(_PAYMENTS.c.id == payment_id).with_for_update())
    last = db.session.scalar(
        select(OutboundMessage.sequence)
        .where(OutboundMessage.payment_id == payment_id)
        .order_by(OutboundMessage.sequence.desc())
        .limit(1)
    )
    return (last or 0) + 1


def _new_delivery(endpoint: WebhookEndpoint, now: dt.datetime) -> Delivery:
    return Delivery(
        endpoint_id=endpoint.id,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


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
        message.deliveries.append(_new_delivery(endpoint, now))


def enqueue(
    *,
    firm_id: int,
    event_type: str,
    data: dict[str, Any],
    payment_id: int | None = None,
    charge_id: int | None = None,
    held: bool = False,
    only: WebhookEndpoint | None = None,
) -> OutboundMessage:
    """Queue one message for the firm's back office in the caller's transaction (never commits).

    `data` is the event's body as the feature built it; the envelope (id, type, timestamp,
    api_version, sequence) is added here and the bytes are fixed now, so every retry sends
    the same. With `payment_id` the message takes the payment's next sequence number.
    `held` keeps it until the firm releases it (firms that post by hand); `only` sends it to
    that endpoint alone (pings).
    """
    if event_type not in payloads.EVENT_TYPES:
        raise ValueError(f"{event_type!r} is not a known event type")
    now = clock.now()
    msg_id = public_id("msg_")
    sequence = _next_sequence(payment_id) if payment_id is not None else None
    message = OutboundMessage(
        public_id=msg_id,
        firm_id=firm_id,
        type=event_type,
        payload=payloads.body(
            msg_id=msg_id, type_=event_type, occurred_at=now, sequence=sequence, data=data
        ),
        payment_id=payment_id,
        charge_id=charge_id,
        sequence=sequence,
        endpoint_id=only.id if only is not None else None,
        status=MessageStatus.HELD if held else MessageStatus.PENDING,
        created_at=now,
        released_at=None if held else now,
    )
    db.session.add(message)
    if not held:
        _fan_out(message, now, only)
    return message


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


def release_held(
    *, firm_id: int, message_ids: Sequence[str] | None = None
) -> list[OutboundMessage]:
    """Release the firm's held postings (`release`: the given public ids, or all when None)
    for delivery, and commit; returns those released."""
    with db.transaction():
        return release(firm_of(firm_id), message_ids)


# -- settling --------------------------------------------------------------------------------


def settle_message(message_id: int, now: dt.datetime) -> None:
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


def settle_messages(message_ids: set[int], now: dt.datetime) -> None:
    """`settle_message` for many messages in three statements."""
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
    sync(OutboundMessage, changes)


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


# -- for the API: lookups, pages and replays -------------------------------------------------


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


def keyset(
    statement: Any, id_column: Any, after_id: int | None, limit: int
) -> tuple[list[Any], int | None]:
    """One page of `statement` in `id_column` order after `after_id`, and where to go on."""
    if after_id is not None:
        statement = statement.where(id_column > after_id)
    rows = list(db.session.scalars(statement.order_by(id_column).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, rows[-1].id


def messages_page(
    firm_id: int, *, status: MessageStatus | None, after_id: int | None, limit: int
) -> tuple[list[OutboundMessage], int | None]:
    """A page of the firm's messages in id order, of one status if given."""
    statement = select(OutboundMessage).where(OutboundMessage.firm_id == firm_id)
    if status is not None:
        statement = statement.where(OutboundMessage.status == status)
    return keyset(statement, OutboundMessage.id, after_id, limit)


def _bring_forward(delivery: Delivery, now: dt.datetime) -> bool:
    """Make a pending delivery waiting between retries due now; False if a worker holds it.

    Its attempts stay as counted (the next one is the next of the schedule, only sooner).
    One conditional statement, so it never races a worker's claim: a delivery claimed
    under a lease that still runs is being sent already and is left alone.
    """
    values = {"next_attempt_at": now}
    result = db.session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery.id,
            Delivery.status == DeliveryStatus.PENDING,
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until <= now),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    sync(Delivery, {delivery.id: values})
    return True


def _requeue(message: OutboundMessage, endpoint: WebhookEndpoint, now: dt.datetime) -> bool:
    """Send `message` to `endpoint` again under the same webhook-id; False if a worker holds it."""
    delivery = db.session.scalar(
        select(Delivery).where(
            Delivery.message_id == message.id, Delivery.endpoint_id == endpoint.id
        )
    )
    if delivery is None:
        message.deliveries.append(_new_delivery(endpoint, now))
    elif delivery.status is DeliveryStatus.PENDING:
        return _bring_forward(delivery, now)
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


@dataclass(frozen=True)
class Resent:
    """A message queued again, and the endpoints it goes to."""

    message: OutboundMessage
    endpoints: list[WebhookEndpoint]


def replay_message(*, firm_id: int, public_id: str) -> Resent:
    """Queue the firm's message `public_id` again, same webhook-id, for every enabled endpoint
    that wants it (a ping only for its own endpoint), and commit.

    A delivery waiting between retries is made due now (its attempts kept as counted), so
    the next worker round sends it; one a worker holds right now is being sent already.

    Raises NotFound, or Conflict for a held posting (release it instead).
    """
    message = message_for_firm(firm_id, public_id)
    with db.transaction():
        if message.status is MessageStatus.HELD:
            raise Conflict(f"{message.public_id} is held: release it instead of replaying it.")
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
    return Resent(message, targets)


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


def replayable(endpoint: WebhookEndpoint, since: dt.datetime) -> Any:
    """The firm's released messages created at or after `since` that may go to `endpoint`
    (those for every endpoint and its own pings), before its event-type filter."""
    return select(OutboundMessage).where(
        OutboundMessage.firm_id == endpoint.firm_id,
        OutboundMessage.created_at >= since,
        OutboundMessage.status != MessageStatus.HELD,
        or_(OutboundMessage.endpoint_id.is_(None), OutboundMessage.endpoint_id == endpoint.id),
    )


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
    query = replayable(endpoint, since)
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
