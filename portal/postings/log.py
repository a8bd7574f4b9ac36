"""Delivery logs as the console shows them: an endpoint's recent deliveries (under each
endpoint on Postings) and a payment's messages (on the payment's page).

Read-only: messages with their deliveries and every attempt (the same rows
GET /api/v1/webhook-messages/{id} shows per message).
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


def payment_messages(firm_id: int, payment_id: int) -> list[OutboundMessage]:
    """Every message about one of the firm's payments, oldest first, each with its deliveries
    (and their endpoints) and every attempt: what a payment's console page shows."""
    return list(
        db.session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.firm_id == firm_id, OutboundMessage.payment_id == payment_id)
            .options(
                selectinload(OutboundMessage.deliveries).selectinload(Delivery.endpoint),
                selectinload(OutboundMessage.deliveries).selectinload(Delivery.attempt_log),
            )
            .order_by(OutboundMessage.id)
        )
    )
