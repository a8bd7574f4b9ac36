"""Webhook endpoints, the postings queue, the delivery log and replays."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from portal.api.schemas.common import Input, ListQuery, Output
from portal.postings import endpoints, outbox
from portal.postings.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    MessageStatus,
    WebhookEndpoint,
)

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
        description="true re-enables the endpoint and resends what its disabling stopped (the "
        "answer's `missed` and `replay_since` say what was created meanwhile); false stops "
        "deliveries to it (kept, and sent on re-enabling; messages created while it is "
        "disabled are not queued for it).",
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


class EndpointPatchedOut(EndpointOut):
    """The endpoint as changed; after a re-enabling, what it missed while disabled."""

    missed: int | None = Field(
        description="When this change re-enabled the endpoint: how many of the firm's messages "
        "of its event types were created while it was disabled (within the replay window). "
        "They are not sent on their own (Standard Webhooks: no backfill): replay them with "
        "`POST /webhook-endpoints/{id}/replay?since=` `replay_since`. null otherwise."
    )
    replay_since: dt.datetime | None = Field(
        description="With `missed`: the `since` that sends those messages, the instant the "
        "endpoint was disabled (or, if that is further back than a replay reaches, the oldest "
        "instant one accepts, with an hour's margin). null otherwise."
    )

    @classmethod
    def of_update(cls, update: endpoints.EndpointUpdate) -> EndpointPatchedOut:
        missed = update.missed
        return cls.model_validate(
            {
                **cls.fields_of(update.endpoint),
                "missed": None if missed is None else missed.count,
                "replay_since": None if missed is None else missed.since,
            }
        )


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
