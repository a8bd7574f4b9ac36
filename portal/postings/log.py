"""An endpoint's recent delivery log, as the console shows it under each endpoint.

Read-only: the newest deliveries to one of the firm's endpoints, with their message and
every attempt (the same rows GET /api/v1/webhook-messages/{id} shows per message).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.db import db
from portal.postings.models import Delivery, OutboundMessage, WebhookEndpoint


def recent_deliveries(endpoint: WebhookEndpoint, limit: int = 10) -> list[Delivery]:
    """The newest `limit` deliveries to `endpoint`, each with its message and attempts."""
    return list(
        db.session.scalars(
            select(Delivery)
            .join(OutboundMessage, OutboundMessage.id == Delivery.message_id)
            .where(
                Delivery.endpoint_id == endpoint.id,
                OutboundMessage.firm_id == endpoint.firm_id,
            )
            .options(selectinload(Delivery.message), selectinload(Delivery.attempt_log))
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
    )
