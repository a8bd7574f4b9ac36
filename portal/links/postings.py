"""What link sending tells the firm's back office: `link.delivery_failed`, built and queued here.

The outbox (`portal.postings.outbox.enqueue`) only wraps and sends the body. Nothing here
commits.
"""

from __future__ import annotations

from typing import Any

from portal.links.models import LinkDelivery
from portal.postings import outbox, payloads
from portal.postings.models import OutboundMessage


def link_delivery_failed_data(delivery: LinkDelivery) -> dict[str, Any]:
    """A link email bounced at the mail server: which link, to whom, and what the server said."""
    link = delivery.link
    return {
        "link_id": link.public_id,
        "delivery_id": delivery.public_id,
        "origin": delivery.origin.value,
        "client": {"external_id": link.client.external_id},
        "email": delivery.recipient,
        "error": delivery.error,
        "failed_at": payloads.iso_instant(delivery.failed_at) if delivery.failed_at else None,
        "link_expires_at": payloads.iso_instant(link.expires_at),
    }


def enqueue_link_delivery_failed(delivery: LinkDelivery) -> OutboundMessage:
    """Tell the firm's back office a link email could not be sent (never commits).

    A notice for a person to act on (call the client, fix the address), so it is never held.
    """
    return outbox.enqueue(
        firm_id=delivery.firm_id,
        event_type=payloads.LINK_DELIVERY_FAILED,
        data=link_delivery_failed_data(delivery),
    )
