"""The outbox of postings to firms' back offices: endpoints, messages, deliveries, attempts.

A message is written in the same transaction as the change it reports, so it exists exactly
when the change does. Each (message, endpoint) pair is a delivery, which a worker claims with
a short lease, sends outside any transaction, and records as one attempt per try.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.db import Base, str_enum
from portal.firms.models import Firm


class WebhookEndpoint(Base):
    """A URL of the firm's back office that receives signed postings (Standard Webhooks)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index("ix_webhook_endpoints_firm_id", "firm_id"),
        # The spec wants secrets unique per endpoint; a collision of 24 random bytes would
        # mean a broken random source, and this makes it fail loudly.
        UniqueConstraint("secret"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Public reference (ep_...) for the API and the delivery log.
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    #: https:// URL whose host resolves only to public addresses (checked at save and send).
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(300), default="")
    #: JSON list of event types this endpoint wants ("payment.*" matches a family);
    #: None means every type.
    event_types: Mapped[str | None] = mapped_column(Text)
    #: whsec_ + base64 of 24 random bytes. Kept as is, not hashed, because HMAC signing needs
    #: the key itself; whoever can read this table can forge postings, so guard its backups.
    secret: Mapped[str] = mapped_column(String(100))
    #: The secret before the last rotation: postings carry a signature with it too until
    #: `previous_secret_expires_at`, so the back office can switch keys without a gap.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: When the endpoint last answered an attempt with 2xx.
    last_success_at: Mapped[dt.datetime | None]
    #: Start of the current run of failed attempts (None after any success); five days of
    #: failures disable the endpoint.
    failing_since: Mapped[dt.datetime | None]
    disabled_at: Mapped[dt.datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(300))

    firm: Mapped[Firm] = relationship()

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None


class MessageStatus(enum.StrEnum):
    #: Waiting for the firm to release it (the firm posts by hand).
    HELD = "held"
    #: Released; deliveries are under way, or no endpoint was registered to take it.
    PENDING = "pending"
    #: Every endpoint it was sent to answered 2xx.
    DELIVERED = "delivered"
    #: Some endpoint never took it (retries exhausted or endpoint disabled).
    FAILED = "failed"


class OutboundMessage(Base):
    """One posting or notice for a firm's back office: the outbox row.

    `payload` is the exact JSON body that is signed and sent, fixed when the message is
    written, so every retry carries the same bytes under the same `webhook-id` (`public_id`).
    """

    __tablename__ = "outbound_messages"
    __table_args__ = (
        # Per payment, each message has its own number, in the order they were written.
        UniqueConstraint("payment_id", "sequence"),
        Index("ix_outbound_messages_firm_status_created", "firm_id", "status", "created_at"),
        Index("ix_outbound_messages_status_created", "status", "created_at"),
        Index("ix_outbound_messages_charge_id", "charge_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: msg_ + 24 letters and digits: the `webhook-id` header and the body's "id".
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    #: Event type, e.g. "payment.succeeded".
    type: Mapped[str] = mapped_column(String(40))
    #: The whole body (envelope and data), byte for byte as it is signed and sent.
    payload: Mapped[str] = mapped_column(Text)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    charge_id: Mapped[int | None] = mapped_column(ForeignKey("charges.id", ondelete="CASCADE"))
    #: 1, 2, 3 ... per payment, so a back office can discard news older than what it has.
    sequence: Mapped[int | None] = mapped_column(Integer)
    #: Only this endpoint gets the message (pings); None means every subscribed endpoint.
    endpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    status: Mapped[MessageStatus] = mapped_column(str_enum(MessageStatus, "message_status"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    released_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]

    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="message", order_by="Delivery.id", passive_deletes=True
    )


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    #: Every scheduled attempt failed.
    FAILED = "failed"
    #: Stopped because the endpoint was disabled; re-enabling sends it again.
    DISABLED = "disabled"


class Delivery(Base):
    """One message to one endpoint: its schedule, how often it was tried, and who holds it."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("message_id", "endpoint_id"),
        # The worker's question, "what is due now?", walks this index.
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_status", "endpoint_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbound_messages.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus, "delivery_status"))
    #: Attempts started, counted when a worker claims the delivery (a worker that dies
    #: mid-send still used one).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime]
    #: The worker holding the delivery, and until when; after that another may take it.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[dt.datetime | None]
    last_attempt_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    message: Mapped[OutboundMessage] = relationship(back_populates="deliveries")
    endpoint: Mapped[WebhookEndpoint] = relationship()
    attempt_log: Mapped[list[DeliveryAttempt]] = relationship(
        order_by="DeliveryAttempt.id", passive_deletes=True
    )


class DeliveryAttempt(Base):
    """One try at sending a delivery, and what came back. Never updated."""

    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (Index("ix_webhook_delivery_attempts_delivery_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempted_at: Mapped[dt.datetime]
    worker: Mapped[str] = mapped_column(String(100))
    #: The HTTP status, or None when no answer came (see `error`).
    status_code: Mapped[int | None] = mapped_column(Integer)
    #: Why no usable answer came: timeout, refused connection, unsafe address ...
    error: Mapped[str | None] = mapped_column(String(300))
    #: Milliseconds from sending to the end of the answer's first bytes.
    latency_ms: Mapped[int] = mapped_column(Integer)
    #: The first 500 bytes of the answer, decoded leniently, for the delivery log.
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
