"""The firm's webhook endpoints: register, edit, rotate, pause, disable, enable, delete, ping.

The use cases at the end (`create_endpoint`, `update_endpoint`, `delete_endpoint`,
`rotate_endpoint_secret`, `ping_endpoint`, `replay_to_endpoint`) are what a face calls: each
takes the firm's id and public ids, and commits its one unit of work. Everything above them
joins the caller's transaction and never commits (the delivery worker, `portal.postings.
recording`, calls `disable_endpoint` inside its own).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import delete, func, or_, select, update

from portal import clock
from portal.audit.services import Actor
from portal.db import db
from portal.errors import NotFound, ValidationFailed
from portal.firms import identity
from portal.firms.models import Firm
from portal.mail import send_after_commit
from portal.postings import network, outbox, payloads, signals, signing
from portal.postings.endpoint_audit import (
    endpoint_settings,
    record_endpoint,
    record_endpoint_changes,
)
from portal.postings.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    MessageStatus,
    OutboundMessage,
    WebhookEndpoint,
)

#: After a rotation the previous secret keeps signing this long.
ROTATION_OVERLAP = dt.timedelta(hours=24)


def allow_private() -> bool:
    """Whether loopback and private targets (and plain http) are allowed: development only."""
    return bool(current_app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"])


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


def register_endpoint(
    firm: Firm, *, url: str, description: str = "", event_types: Iterable[str] | None = None
) -> WebhookEndpoint:
    """Add a receiving URL for the firm with a fresh secret (not committed).

    Raises `network.UnsafeTarget` unless the URL is https and its host resolves only to
    public addresses. The secret is on the returned row; show it to the firm.
    """
    target = network.check_url(url, allow_private=allow_private())
    endpoint = WebhookEndpoint(
        public_id=outbox.public_id("ep_"),
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
        outbox.settle_message(message_id, now)
    firm = outbox.firm_of(endpoint.firm_id)
    if firm.notify_email:
        _queue_disabled_email(firm, endpoint)
    outbox.enqueue(
        firm_id=firm.id,
        event_type=payloads.ENDPOINT_DISABLED,
        data={
            "endpoint_id": endpoint.public_id,
            "url": endpoint.url,
            "reason": endpoint.disabled_reason,
            "disabled_at": payloads.iso_instant(now),
        },
    )
    signals.endpoint_disabled.send(endpoint, reason=endpoint.disabled_reason or "")


def _queue_disabled_email(firm: Firm, endpoint: WebhookEndpoint) -> None:
    """Tell the firm's notification address that `endpoint` was disabled, once this commits."""
    if not firm.notify_email:
        return
    message = identity.compose_email(
        firm,
        "endpoint_disabled",
        to=firm.notify_email,
        locale=None,  # firms have no language of their own yet
        url=endpoint.url,
        endpoint_id=endpoint.public_id,
        reason=endpoint.disabled_reason or "",
    )
    send_after_commit(message)


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
    return outbox.enqueue(
        firm_id=endpoint.firm_id,
        event_type=payloads.PING,
        data={"endpoint_id": endpoint.public_id, "message": "MatterPay can reach you."},
        only=endpoint,
    )


# -- for the API: lookups, pages and edits ---------------------------------------------------


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


def endpoints_page(
    firm_id: int, *, after_id: int | None, limit: int
) -> tuple[list[WebhookEndpoint], int | None]:
    """A page of the firm's endpoints in id order, and the id to continue after (or None)."""
    statement = select(WebhookEndpoint).where(WebhookEndpoint.firm_id == firm_id)
    return outbox.keyset(statement, WebhookEndpoint.id, after_id, limit)


def _edit(
    endpoint: WebhookEndpoint,
    *,
    url: str | None,
    description: str | None,
    event_types: Iterable[str] | None,
    set_event_types: bool,
) -> None:
    """Change an endpoint's URL (checked like at registration), description or event types
    (`set_event_types` with None means every type). Not committed."""
    if url is not None:
        endpoint.url = network.check_url(url, allow_private=allow_private()).url
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
        outbox.settle_message(delivery.message_id, now)


def _delete(endpoint: WebhookEndpoint) -> None:
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


# -- use cases: each is one operation a face calls, and commits ------------------------------


def create_endpoint(
    *,
    firm_id: int,
    url: str,
    description: str = "",
    event_types: Iterable[str] | None = None,
    actor: Actor,
) -> WebhookEndpoint:
    """Register a receiving URL for the firm (`register_endpoint`), audit it and commit.

    Raises `network.UnsafeTarget` or ValidationFailed (unknown event types), saving nothing.
    The secret is on the returned row: show it to the firm this once.
    """
    with db.transaction():
        endpoint = register_endpoint(
            outbox.firm_of(firm_id), url=url, description=description, event_types=event_types
        )
        record_endpoint(endpoint, actor, "created", after=endpoint_settings(endpoint))
    return endpoint


#: How much later than the replay window's far edge `missed_since` answers a `since`, so
#: the value it gives is still accepted by a replay made within this time.
REPLAY_MARGIN = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Missed:
    """What an endpoint missed while disabled, and the `since` whose replay sends it."""

    count: int
    since: dt.datetime


def missed_since(endpoint: WebhookEndpoint, disabled_at: dt.datetime) -> Missed:
    """How many messages `endpoint` never got because it was disabled at `disabled_at`.

    Counted: the firm's released messages of the endpoint's event types created since then
    (within the replay window) that have no delivery to it (what its disabling stopped is
    resent by `enable_endpoint` and not counted). `since` is `disabled_at`, or, when that is
    further back than a replay reaches, the window's far edge plus REPLAY_MARGIN;
    `outbox.replay_since` with it queues these (and whatever was created after this call).
    """
    since = max(disabled_at, clock.now() - outbox.replay_window() + REPLAY_MARGIN)
    wanted = [type_ for type_ in sorted(payloads.EVENT_TYPES) if outbox.wants(endpoint, type_)]
    delivered_here = select(Delivery.id).where(
        Delivery.message_id == OutboundMessage.id, Delivery.endpoint_id == endpoint.id
    )
    query = outbox.replayable(endpoint, since).where(
        OutboundMessage.type.in_(wanted), ~delivered_here.exists()
    )
    count = db.session.scalar(select(func.count()).select_from(query.subquery()))
    return Missed(count=int(count or 0), since=since)


@dataclass(frozen=True)
class EndpointUpdate:
    """An endpoint as changed, and, when the change re-enabled it, what it missed meanwhile."""

    endpoint: WebhookEndpoint
    #: With a re-enabling: the messages created while it was disabled (no automatic
    #: backfill: `replay_to_endpoint` with `missed.since` sends them); None otherwise.
    missed: Missed | None = None


def update_endpoint(
    *,
    firm_id: int,
    public_id: str,
    url: str | None = None,
    description: str | None = None,
    event_types: Iterable[str] | None = None,
    set_event_types: bool = False,
    enabled: bool | None = None,
    pause_reason: str = "Paused at the firm's request.",
    actor: Actor,
) -> EndpointUpdate:
    """Change the firm's endpoint `public_id` and commit; None leaves a field as it is.

    `set_event_types` with `event_types` None means every type. `enabled=True` re-enables a
    disabled endpoint and resends what its disabling stopped, and says how many messages
    were created while it was disabled (`missed_since`, counted for its event types
    after this change): those are not sent unless replayed (Standard Webhooks: no
    backfill). `enabled=False` pauses it quietly, recording `pause_reason`. Each setting
    that changes is audited. Raises NotFound, `network.UnsafeTarget` or ValidationFailed,
    saving nothing.
    """
    endpoint = endpoint_for_firm(firm_id, public_id)
    before = endpoint_settings(endpoint)
    missed = None
    with db.transaction():
        _edit(
            endpoint,
            url=url,
            description=description,
            event_types=event_types,
            set_event_types=set_event_types,
        )
        disabled_at = endpoint.disabled_at
        if enabled is True and disabled_at is not None:
            enable_endpoint(endpoint)
            db.session.flush()
            missed = missed_since(endpoint, disabled_at)
        elif enabled is False:
            pause_endpoint(endpoint, reason=pause_reason)
        record_endpoint_changes(endpoint, actor, before)
    return EndpointUpdate(endpoint, missed)


def delete_endpoint(*, firm_id: int, public_id: str, actor: Actor) -> None:
    """Remove the firm's endpoint `public_id` with its delivery log and pings, audit it, and
    commit."""
    endpoint = endpoint_for_firm(firm_id, public_id)
    with db.transaction():
        record_endpoint(endpoint, actor, "deleted", before=endpoint_settings(endpoint))
        _delete(endpoint)


@dataclass(frozen=True)
class Rotation:
    """A rotated endpoint's new secret, and until when the previous one also signs."""

    secret: str
    previous_secret_expires_at: dt.datetime


def rotate_endpoint_secret(*, firm_id: int, public_id: str, actor: Actor) -> Rotation:
    """Give the firm's endpoint `public_id` a new secret (`rotate_secret`) and commit. The
    audit log records that it was rotated, never a secret."""
    endpoint = endpoint_for_firm(firm_id, public_id)
    with db.transaction():
        secret = rotate_secret(endpoint)
        record_endpoint(endpoint, actor, "secret_rotated", field="secret", after="rotated")
    expires = endpoint.previous_secret_expires_at
    if expires is None:  # set by the rotation
        raise LookupError("rotation kept no expiry")
    return Rotation(secret=secret, previous_secret_expires_at=expires)


def ping_endpoint(*, firm_id: int, public_id: str) -> OutboundMessage:
    """Queue a `ping` for the firm's endpoint `public_id` only, and commit."""
    endpoint = endpoint_for_firm(firm_id, public_id)
    with db.transaction():
        return send_ping(endpoint)


def replay_to_endpoint(*, firm_id: int, public_id: str, since: dt.datetime) -> outbox.Replay:
    """Queue again for the firm's endpoint `public_id` what it wanted since `since`, and commit.

    See `outbox.replay_since` (Conflict when the endpoint is disabled, ValidationFailed when
    `since` reaches back past the retention period).
    """
    endpoint = endpoint_for_firm(firm_id, public_id)
    with db.transaction():
        return outbox.replay_since(endpoint, since)
