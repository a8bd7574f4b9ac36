"""The inbox of processor events (each handled once) and the sandbox processor's own records."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal import clock
from portal.db import Base


class InboundEvent(Base):
    """A verified processor event. The unique id makes a redelivered event a no-op."""

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("gateway", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(100))
    merchant_account_id: Mapped[int] = mapped_column(ForeignKey("merchant_accounts.id"))
    type: Mapped[str] = mapped_column(String(80))
    received_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: What the portal did with it: "applied", "ignored: <why>".
    outcome: Mapped[str] = mapped_column(String(200), default="")


class SandboxIntent(Base):
    """The sandbox processor's record of a PaymentIntent: it plays Stripe's side, offline."""

    __tablename__ = "sandbox_intents"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_sandbox_intents_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: pi_sbx_... — shaped like a Stripe PaymentIntent id.
    intent_id: Mapped[str] = mapped_column(String(40), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(100))
    merchant_account_id: Mapped[int] = mapped_column(ForeignKey("merchant_accounts.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(10))
    #: Stripe's PaymentIntent status vocabulary: processing, succeeded, requires_payment_method…
    status: Mapped[str] = mapped_column(String(30))
    #: For ACH: what settlement will do ("succeeded" or a failure code such as account_closed).
    settles_to: Mapped[str | None] = mapped_column(String(40))
    failure_code: Mapped[str | None] = mapped_column(String(60))
    brand: Mapped[str | None] = mapped_column(String(40))
    last4: Mapped[str | None] = mapped_column(String(4))
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class SandboxRefund(Base):
    """The sandbox processor's record of a refund: the same idempotency key returns it again
    rather than refunding twice, as Stripe's does."""

    __tablename__ = "sandbox_refunds"
    __table_args__ = (UniqueConstraint("idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: re_sbx_... — shaped like a Stripe Refund id.
    refund_id: Mapped[str] = mapped_column(String(40), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(100))
    intent_id: Mapped[int] = mapped_column(ForeignKey("sandbox_intents.id", ondelete="CASCADE"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    #: Stripe's Refund status vocabulary: succeeded, pending, failed, canceled.
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class SandboxSavedMethod(Base):
    """The sandbox processor's record of a saved card or bank account (a Stripe PaymentMethod
    attached to a Customer). It keeps what the test number will do when charged, never the
    number."""

    __tablename__ = "sandbox_saved_methods"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: pm_sbx_... — shaped like a Stripe PaymentMethod id.
    method_ref: Mapped[str] = mapped_column(String(40), unique=True)
    #: cus_sbx_... — shaped like a Stripe Customer id.
    customer_ref: Mapped[str] = mapped_column(String(40))
    merchant_account_id: Mapped[int] = mapped_column(ForeignKey("merchant_accounts.id"))
    method: Mapped[str] = mapped_column(String(10))
    #: What a charge does: "succeeds", "declines:<code>", "authenticates" (3-D Secure every
    #: time), "authenticates_on_session" (only when the payer is there); for banks the
    #: settlement ("settles:succeeded", "settles:account_closed", "settles:returned").
    behaviour: Mapped[str] = mapped_column(String(60))
    brand: Mapped[str] = mapped_column(String(40))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int | None]
    exp_year: Mapped[int | None]
    detached_at: Mapped[dt.datetime | None]
