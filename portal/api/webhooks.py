"""Webhook endpoints, the postings queue, the delivery log and replays under /api/v1.

Each route parses the request, calls one use case of `portal.postings.endpoints` or
`.outbox` (which commits) and renders its answer; the shapes are in
`portal.api.schemas.webhooks`. Every lookup is scoped to the calling firm (`g.firm_id`);
another firm's endpoint or message is not found.
"""

from __future__ import annotations

from flask import Response, g

from portal.api.auth import actor
from portal.api.schemas import (
    DeliveryOut,
    EndpointCreatedOut,
    EndpointIn,
    EndpointOut,
    EndpointPage,
    EndpointPatch,
    EndpointPatchedOut,
    EndpointPath,
    ListQuery,
    MessageDetailOut,
    MessageOut,
    MessagePage,
    MessagePath,
    MessagesOut,
    PingOut,
    PostingsQuery,
    ReleaseIn,
    ReplayOut,
    ReplaySinceOut,
    ReplaySinceQuery,
    RotatedOut,
    encode_cursor,
)
from portal.api.views import api, page_size
from portal.errors import ValidationFailed
from portal.payments.postings import payment_public_ids
from portal.postings import endpoints, outbox
from portal.postings.models import OutboundMessage
from portal.postings.network import UnsafeTarget

TAG = "webhooks"


# Helpers


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
        endpoint = endpoints.create_endpoint(
            firm_id=g.firm_id,
            url=body.url,
            description=body.description,
            event_types=body.event_types,
            actor=actor(),
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
    responses={200: EndpointPatchedOut},
    errors=(404,),
)
def patch_webhook_endpoint(id: str, body: EndpointPatch) -> EndpointPatchedOut:
    """Only the fields sent change. `event_types: null` means every type; `enabled: true`
    re-enables a disabled endpoint and resends the postings its disabling stopped, and
    answers how many messages were created while it was disabled (`missed`, not sent on
    their own) and the `replay_since` that sends them through `…/replay?since=`."""
    try:
        update = endpoints.update_endpoint(
            firm_id=g.firm_id,
            public_id=id,
            url=body.url,
            description=body.description,
            event_types=body.event_types,
            set_event_types="event_types" in body.model_fields_set,
            enabled=body.enabled,
            pause_reason="Disabled through the API.",
            actor=actor(),
        )
    except UnsafeTarget as exc:
        raise _url_problem(exc) from None
    return EndpointPatchedOut.of_update(update)


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
    endpoints.delete_endpoint(firm_id=g.firm_id, public_id=id, actor=actor())
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
    rotation = endpoints.rotate_endpoint_secret(firm_id=g.firm_id, public_id=id, actor=actor())
    return RotatedOut(
        secret=rotation.secret,
        previous_secret_expires_at=rotation.previous_secret_expires_at,
    )


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
    message = endpoints.ping_endpoint(firm_id=g.firm_id, public_id=id)
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
    replay = endpoints.replay_to_endpoint(firm_id=g.firm_id, public_id=id, since=query.since)
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
    released = outbox.release_held(firm_id=g.firm_id, message_ids=body.messages)
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
    """Queued again, under the same webhook-id, for every enabled endpoint that wants its type,
    due at once: a delivery waiting between retries is sent on the worker's next round (409 if
    it is held: release it instead)."""
    resent = outbox.replay_message(firm_id=g.firm_id, public_id=id)
    return ReplayOut(
        message=resent.message.public_id, endpoints=[e.public_id for e in resent.endpoints]
    ), 202
