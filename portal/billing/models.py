"""Clients, matters and invoices, each upserted by the back office's own `external_id`."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.db import Base, str_enum


class Client(Base):
    """The person or company a firm works for; the one who opens a link and pays."""

    __tablename__ = "clients"
    __table_args__ = (UniqueConstraint("firm_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    #: The back office's own id for this client, unique within the firm.
    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    #: BCP 47 / CLDR locale such as en_US or es_US; None means the firm's default.
    locale: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class Matter(Base):
    """One case or engagement for a client; invoices and trust money are per matter."""

    __tablename__ = "matters"
    __table_args__ = (
        UniqueConstraint("firm_id", "external_id"),
        Index("ix_matters_client_id", "client_id"),
        CheckConstraint("trust_minimum_minor >= 0", name="trust_minimum_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(100))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    #: The firm's matter number as people know it, e.g. "2024-0042".
    number: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    #: Evergreen retainer floor in minor units of `currency`; None when the matter has none.
    trust_minimum_minor: Mapped[int | None] = mapped_column(BigInteger)
    #: Currency of the matter's trust money and minimum.
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    client: Mapped[Client] = relationship()


class InvoiceStatus(enum.StrEnum):
    OPEN = "open"
    PAID = "paid"
    VOID = "void"


class Invoice(Base):
    """A bill for a matter. `balance_due_minor` is what is still owed."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("firm_id", "external_id"),
        # The matter page asks for a matter's open invoices by due date, and its recently
        # paid ones by payment time; both walk this index.
        Index("ix_invoices_matter_status_due", "matter_id", "status", "due_on"),
        CheckConstraint("total_minor >= 0", name="total_not_negative"),
        CheckConstraint("balance_due_minor >= 0", name="balance_due_not_negative"),
        CheckConstraint("balance_due_minor <= total_minor", name="balance_due_within_total"),
        CheckConstraint("reserved_minor >= 0", name="reserved_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(100))
    matter_id: Mapped[int] = mapped_column(ForeignKey("matters.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(64))
    issued_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    #: Invoice total in minor units of `currency`.
    total_minor: Mapped[int] = mapped_column(BigInteger)
    #: What is still owed, in minor units of `currency`.
    balance_due_minor: Mapped[int] = mapped_column(BigInteger)
    #: Part of the balance due held by portal charges still in flight (created or processing).
    #: What a client may still pay is balance_due_minor - reserved_minor.
    reserved_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: The balance due exactly as the back office last sent it, before the portal subtracts
    #: its own succeeded payments that the back office has not yet acknowledged.
    synced_balance_minor: Mapped[int | None] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[InvoiceStatus] = mapped_column(str_enum(InvoiceStatus, "invoice_status"))
    #: When the balance due first reached zero, as the portal learned it.
    paid_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    matter: Mapped[Matter] = relationship()
