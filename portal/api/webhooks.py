"""Webhook endpoints, the postings queue, the delivery log and replays under /api/v1.

Each route calls `portal.postings.endpoints` or `.outbox` and commits through `db.transaction()`.
Every lookup is scoped to the calling firm (`g.firm_id`); another firm's endpoint or message
is not found.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from flask import Response, g
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from portal.api.schemas import Input, ListQuery, Output, encode_cursor
from portal.api.views import api, page_size
from portal.db import db
from portal.errors import ValidationFailed
from portal.firms.models import Firm
from portal.payments.postings import payment_public_ids
from portal.postings import endpoints, outbox
from portal.postings.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    MessageStatus,
    OutboundMessage,
    WebhookEndpoint,
)
from portal.postings.network import UnsafeTarget

TAG = "webhooks"

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
EventType = Annotated[str, StringConstraints(min_length=1, max_length=40)]
EventTypes = Annotated[
    list[EventType] | None,
    Field(
        max_length=50,
        description='Event types to receive, e.g. ["payment.succeeded", "trust.*"]; null or '
        "left out means every type.",
    ),
]
PublicId = Annotated[str, StringConstraints(min_length=1, max_length=40)]


# Shapes


class EndpointIn(Input):
    """A URL of the back office to receive signed postings."""

    url: Url = Field(description="https:// URL whose host resolves only to public addresses.")
    event_types: EventTypes = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = ""


class EndpointPatch(Input):
    """The fields to change; those left out stay as they are."""

    url: Url | None = None
    event_types: EventTypes = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = (
        None
    )
    enabled: bool | None = Field(
        default=None,
        description="true re-enables the endpoint and resends what its disabling stopped; "
        "false stops deliveries to it (kept, and sent on re-enabling).",
    )


class EndpointOut(Output):
    id: str
    url: str
    description: str
    event_types: list[str] | None = Field(description="null means every type.")
    enabled: bool
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    created_at: dt.datetime
    last_success_at: dt.datetime | None
    failing_since: dt.datetime | None
    previous_secret_expires_at: dt.datetime | None = Field(
        description="Until when postings are also signed with the secret before the last rotation."
    )

    @classmethod
    def fields_of(cls, endpoint: WebhookEndpoint) -> dict[str, object]:
        return {
            "id": endpoint.public_id,
            "url": endpoint.url,
            "description": endpoint.description,
            "event_types": None
            if endpoint.event_types is None
            else json.loads(endpoint.event_types),
            "enabled": endpoint.is_active,
            "disabled_at": endpoint.disabled_at,
            "disabled_reason": endpoint.disabled_reason,
            "created_at": endpoint.created_at,
            "last_success_at": endpoint.last_success_at,
            "failing_since": endpoint.failing_since,
            "previous_secret_expires_at": endpoint.previous_secret_expires_at,
        }

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointOut:
        return cls.model_validate(cls.fields_of(endpoint))


class EndpointCreatedOut(EndpointOut):
    secret: str = Field(
        description="The signing secret (whsec_...). Shown only here and on rotation."
    )

    @classmethod
    def of_new(cls, endpoint: WebhookEndpoint) -> EndpointCreatedOut:
        return cls.model_validate({**cls.fields_of(endpoint), "secret": endpoint.secret})


class EndpointPage(Output):
    data: list[EndpointOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class EndpointPath(BaseModel):
    id: PublicId = Field(description="The endpoint's id (ep_...).")


class MessagePath(BaseModel):
    id: PublicId = Field(description="The message's id (msg_...), its webhook-id.")


class RotatedOut(Output):
    secret: str = Field(description="The new signing secret; shown only here.")
    previous_secret_expires_at: dt.datetime = Field(
        description="Postings carry a signature with the old secret too until then."
    )


class PingOut(Output):
    message: str = Field(description="The ping's message id (its webhook-id).")


class MessageOut(Output):
    id: str = Field(description="The message's webhook-id.")
    type: str
    created_at: dt.datetime
    status: MessageStatus
    payment: str | None = Field(description="The payment's id, when it is about one.")


class MessagePage(Output):
    data: list[MessageOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class MessagesOut(Output):
    data: list[MessageOut]


class PostingsQuery(ListQuery):
    status: MessageStatus | None = Field(default=None, description="Only messages in this state.")


class ReleaseIn(Input):
    """Which held postings to release; left out, every held posting."""

    messages: list[PublicId] | None = Field(
        default=None,
        max_length=500,
        description="Message ids; ids that are not this firm's held postings are ignored.",
    )


class AttemptOut(Output):
    attempted_at: dt.datetime
    status_code: int | None = Field(description="null when no answer came; see `error`.")
    error: str | None
    latency_ms: int
    response: str = Field(description="The first 500 bytes of the answer.")

    @classmethod
    def of(cls, attempt: DeliveryAttempt) -> AttemptOut:
        return cls(
            attempted_at=attempt.attempted_at,
            status_code=attempt.status_code,
            error=attempt.error,
            latency_ms=attempt.latency_ms,
            response=attempt.response_excerpt,
        )


class DeliveryOut(Output):
    endpoint: str = Field(description="The endpoint's id.")
    url: str
    status: DeliveryStatus
    next_attempt_at: dt.datetime
    delivered_at: dt.datetime | None
    attempts: list[AttemptOut]

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        return cls(
            endpoint=delivery.endpoint.public_id,
            url=delivery.endpoint.url,
            status=delivery.status,
            next_attempt_at=delivery.next_attempt_at,
            delivered_at=delivery.delivered_at,
            attempts=[AttemptOut.of(attempt) for attempt in delivery.attempt_log],
        )


class MessageDetailOut(MessageOut):
    deliveries: list[DeliveryOut]


class ReplayOut(Output):
    message: str
    endpoints: list[str] = Field(description="The endpoints it is queued for again.")


class ReplaySinceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime = Field(
        description="ISO 8601 instant with an offset, e.g. 2026-11-01T00:00:00Z; at most the "
        "retention period (PORTAL_WEBHOOK_RETENTION_DAYS, 30 days by default) ago."
    )


class ReplaySinceOut(Output):
    messages: list[str] = Field(description="The messages queued again, oldest first.")
    queued: int = Field(description="How many messages were queued again.")
    capped: bool = Field(
        description=f"true when more messages were due than one call queues "
        f"({outbox.REPLAY_LIMIT}); call again with `since` = `next_since` for the rest."
    )
    next_since: dt.datetime | None = Field(
        description="With `capped`: when the first message left out was created."
    )


# Helpers


def _firm() -> Firm:
    firm = db.session.get(Firm, g.firm_id)
    if firm is None:  # the API key's firm, kept through a foreign key
        raise LookupError(f"firm {g.firm_id} vanished")
    return firm


def _messages_out(messages: list[OutboundMessage]) -> list[MessageOut]:
    payments = payment_public_ids(message.payment_id for message in messages)
    return [
        MessageOut(
            id=message.public_id,
            type=message.type,
            created_at=message.created_at,
            status=message.status,
            payment=None if message.payment_id is None else payments.get(message.payment_id),
        )
        for message in messages
    ]


def _url_problem(exc: UnsafeTarget) -> ValidationFailed:
    return ValidationFailed(
        "The URL cannot receive webhooks; nothing was saved.",
        errors=[{"pointer": "/url", "detail": f"url: {exc.detail or exc.title}"}],
    )


# Endpoints


@api.route(
    "POST",
    "/webhook-endpoints",
    summary="Register a webhook endpoint",
    tag=TAG,
    body=EndpointIn,
    responses={201: EndpointCreatedOut},
)
def create_webhook_endpoint(body: EndpointIn) -> tuple[EndpointCreatedOut, int]:
    """The answer holds the signing secret; it is shown again only when rotated. A URL that is
    not https or whose host is not public is a 422 naming /url."""
    try:
        with db.transaction():
            endpoint = endpoints.register_endpoint(
                _firm(), url=body.url, description=body.description, event_types=body.event_types
            )
    except UnsafeTarget as exc:
        raise _url_problem(exc) from None
    return EndpointCreatedOut.of_new(endpoint), 201


@api.route(
    "GET",
    "/webhook-endpoints",
    summary="List webhook endpoints",
    tag=TAG,
    query=ListQuery,
    responses={200: EndpointPage},
)
def list_webhook_endpoints(query: ListQuery) -> EndpointPage:
    """Oldest first; follow `next_cursor` until it is null. Secrets are not shown."""
    items, last_id = endpoints.endpoints_page(
        g.firm_id, after_id=query.after_id, limit=page_size(query)
    )
    return EndpointPage(data=[EndpointOut.of(e) for e in items], next_cursor=encode_cursor(last_id))


@api.route(
    "GET",
    "/webhook-endpoints/<id>",
    summary="Read a webhook endpoint",
    tag=TAG,
    path=EndpointPath,
    responses={200: EndpointOut},
    errors=(404,),
)
def get_webhook_endpoint(id: str) -> EndpointOut:
    return EndpointOut.of(endpoints.endpoint_for_firm(g.firm_id, id))


@api.route(
    "PATCH",
    "/webhook-endpoints/<id>",
    summary="Change a webhook endpoint",
    tag=TAG,
    path=EndpointPath,
    body=EndpointPatch,
    responses={200: EndpointOut},
    errors=(404,),
)
def patch_webhook_endpoint(id: str, body: EndpointPatch) -> EndpointOut:
    """Only the fields sent change. `event_types: null` means every type; `enabled: true`
    re-enables a disabled endpoint and resends the postings its disabling stopped."""
    endpoint = endpoints.endpoint_for_firm(g.firm_id, id)
    try:
        with db.transaction():
            endpoints.update_endpoint(
                endpoint,
                url=body.url,
                description=body.description,
                event_types=body.event_types,
                set_event_types="event_types" in body.model_fields_set,
            )
            if body.enabled is True and not endpoint.is_active:
                endpoints.enable_endpoint(endpoint)
            elif body.enabled is False:
                endpoints.pause_endpoint(endpoint, reason="Disabled through the API.")
    except UnsafeTarget as exc:
        raise _url_problem(exc) from None
    return EndpointOut.of(endpoint)


@api.route(
    "DELETE",
    "/webhook-endpoints/<id>",
    summary="Delete a webhook endpoint",
    tag=TAG,
    path=EndpointPath,
    responses={204: None},
    errors=(404,),
)
def delete_webhook_endpoint(id: str) -> Response:
    """Nothing more is sent to it; its delivery log goes with it. 204 with no body."""
    endpoint = endpoints.endpoint_for_firm(g.firm_id, id)
    with db.transaction():
        endpoints.delete_endpoint(endpoint)
    return Response(status=204)


@api.route(
    "POST",
    "/webhook-endpoints/<id>/rotate-secret",
    summary="Rotate an endpoint's signing secret",
    tag=TAG,
    path=EndpointPath,
    responses={200: RotatedOut},
    errors=(404,),
)
def rotate_webhook_secret(id: str) -> RotatedOut:
    """The new secret signs from now on; the old one also signs for 24 hours, so the back
    office can switch without missing a posting."""
    endpoint = endpoints.endpoint_for_firm(g.firm_id, id)
    with db.transaction():
        secret = endpoints.rotate_secret(endpoint)
    expires = endpoint.previous_secret_expires_at
    if expires is None:  # set by the rotation
        raise LookupError("rotation kept no expiry")
    return RotatedOut(secret=secret, previous_secret_expires_at=expires)


@api.route(
    "POST",
    "/webhook-endpoints/<id>/test",
    summary="Send a test ping to an endpoint",
    tag=TAG,
    path=EndpointPath,
    responses={202: PingOut},
    errors=(404,),
)
def test_webhook_endpoint(id: str) -> tuple[PingOut, int]:
    """Queues a `ping` for this endpoint only; follow it at /webhook-messages/{id}."""
    endpoint = endpoints.endpoint_for_firm(g.firm_id, id)
    with db.transaction():
        message = endpoints.send_ping(endpoint)
    return PingOut(message=message.public_id), 202


@api.route(
    "POST",
    "/webhook-endpoints/<id>/replay",
    summary="Send an endpoint every message since a time again",
    tag=TAG,
    path=EndpointPath,
    query=ReplaySinceQuery,
    responses={202: ReplaySinceOut},
    errors=(404, 409),
)
def replay_to_webhook_endpoint(id: str, query: ReplaySinceQuery) -> tuple[ReplaySinceOut, int]:
    """Every released message created at or after `since` that the endpoint wants is queued
    for it again under the same webhook-id, oldest first, at most 1,000 per call (409 if the
    endpoint is disabled; 422 if `since` is missing, has no offset, or reaches back further
    than the retention period)."""
    endpoint = endpoints.endpoint_for_firm(g.firm_id, id)
    with db.transaction():
        replay = outbox.replay_since(endpoint, query.since)
    return ReplaySinceOut(
        messages=[message.public_id for message in replay.messages],
        queued=len(replay.messages),
        capped=replay.capped,
        next_since=replay.next_since,
    ), 202


# Postings and the delivery log


@api.route(
    "GET",
    "/postings",
    summary="List messages for the back office",
    tag=TAG,
    query=PostingsQuery,
    responses={200: MessagePage},
)
def list_postings(query: PostingsQuery) -> MessagePage:
    """Oldest first; follow `next_cursor` until it is null. `status=held` lists the postings
    waiting to be released (firms that post by hand)."""
    items, last_id = outbox.messages_page(
        g.firm_id, status=query.status, after_id=query.after_id, limit=page_size(query)
    )
    return MessagePage(data=_messages_out(items), next_cursor=encode_cursor(last_id))


@api.route(
    "POST",
    "/postings/release",
    summary="Release held postings",
    tag=TAG,
    body=ReleaseIn,
    body_required=False,
    responses={200: MessagesOut},
)
def release_postings(body: ReleaseIn) -> MessagesOut:
    """Releases the listed held postings, or with `{}` (or no body) every one; answers with
    the messages released, now pending delivery."""
    with db.transaction():
        released = outbox.release(_firm(), body.messages)
    return MessagesOut(data=_messages_out(released))


@api.route(
    "GET",
    "/webhook-messages/<id>",
    summary="Read a message and its delivery log",
    tag=TAG,
    path=MessagePath,
    responses={200: MessageDetailOut},
    errors=(404,),
)
def get_webhook_message(id: str) -> MessageDetailOut:
    """Each delivery (one per endpoint) with every attempt: when, the status code, the
    latency and the first 500 bytes of the answer."""
    message = outbox.message_for_firm(g.firm_id, id)
    (out,) = _messages_out([message])
    return MessageDetailOut(
        **out.model_dump(), deliveries=[DeliveryOut.of(d) for d in message.deliveries]
    )


@api.route(
    "POST",
    "/webhook-messages/<id>/replay",
    summary="Send a message again",
    tag=TAG,
    path=MessagePath,
    responses={202: ReplayOut},
    errors=(404, 409),
)
def replay_webhook_message(id: str) -> tuple[ReplayOut, int]:
    """Queued again, under the same webhook-id, for every enabled endpoint that wants its type
    (409 if it is held: release it instead)."""
    message = outbox.message_for_firm(g.firm_id, id)
    with db.transaction():
        targets = outbox.replay_message(message)
    return ReplayOut(message=message.public_id, endpoints=[e.public_id for e in targets]), 202
