"""The envelope of every posting, and the event types the outbox carries.

Each feature builds its own events' `data` from the rows it owns (portal.payments.postings,
portal.trust_requests.postings, portal.links.postings) and hands it to
`portal.postings.outbox.enqueue`; this module wraps it in the envelope that is signed and
sent. Amounts travel as integers of minor units with their currency. Nothing here is shown
to clients.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

#: Changes to the body's shape get a new version; receivers may branch on it.
API_VERSION = "2026-11-22"

PAYMENT_PROCESSING = "payment.processing"
PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
PAYMENT_REFUNDED = "payment.refunded"
PAYMENT_RETURNED = "payment.returned"
PAYMENT_DISPUTED = "payment.disputed"
#: A dispute ended in the firm's favour and the money came back.
PAYMENT_DISPUTE_WON = "payment.dispute_won"
#: A person at the firm applied an unmatched payment to an invoice or a matter's trust.
PAYMENT_APPLIED = "payment.applied"
TRUST_SHORTFALL = "trust.shortfall"
#: A trust request (portal.trust_requests) was paid in full.
TRUST_REQUEST_PAID = "trust_request.paid"
#: An email carrying a client link could not be handed to the mail server.
LINK_DELIVERY_FAILED = "link.delivery_failed"
ENDPOINT_DISABLED = "endpoint.disabled"
PING = "ping"

PAYMENT_EVENTS = frozenset(
    {
        PAYMENT_PROCESSING,
        PAYMENT_SUCCEEDED,
        PAYMENT_FAILED,
        PAYMENT_REFUNDED,
        PAYMENT_RETURNED,
        PAYMENT_DISPUTED,
        PAYMENT_DISPUTE_WON,
        PAYMENT_APPLIED,
    }
)
EVENT_TYPES = PAYMENT_EVENTS | {
    TRUST_SHORTFALL,
    TRUST_REQUEST_PAID,
    LINK_DELIVERY_FAILED,
    ENDPOINT_DISABLED,
    PING,
}


def body(
    *, msg_id: str, type_: str, occurred_at: dt.datetime, sequence: int | None, data: dict[str, Any]
) -> str:
    """Serialise the envelope exactly once; these bytes are what is signed and sent."""
    envelope = {
        "id": msg_id,
        "type": type_,
        "timestamp": iso_instant(occurred_at),
        "api_version": API_VERSION,
        "sequence": sequence,
        "data": data,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def iso_instant(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_date(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()
