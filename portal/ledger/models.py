"""Trust ledger entries: append-only; a correction is a new entry, never an edit."""

from __future__ import annotations

import datetime as dt

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
from sqlalchemy.orm import Mapped, mapped_column

from portal import clock
from portal.db import Base


class TrustEntry(Base):
    """One movement of a matter's trust money: positive in, negative out."""

    __tablename__ = "trust_entries"
    __table_args__ = (
        UniqueConstraint("firm_id", "external_id"),
        # Balances are sums per matter; history is read newest first.
        Index("ix_trust_entries_matter_posted", "matter_id", "posted_on", "id"),
        CheckConstraint("amount_minor <> 0", name="amount_not_zero"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    #: The back office's id for the entry; None for entries the portal itself appends.
    external_id: Mapped[str | None] = mapped_column(String(100))
    matter_id: Mapped[int] = mapped_column(ForeignKey("matters.id", ondelete="CASCADE"))
    posted_on: Mapped[dt.date] = mapped_column(Date)
    #: Signed amount in minor units of `currency`: deposits positive, disbursements negative.
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text, default="")
    #: Who wrote it: "back_office" (synced) or "portal" (a payment, refund or reversal here).
    source: Mapped[str] = mapped_column(
        String(20), default="back_office", server_default="back_office"
    )
    #: The portal charge behind a portal entry, or the one a back-office entry says it records.
    charge_id: Mapped[int | None] = mapped_column(ForeignKey("charges.id"))
    #: Set on a portal entry once the back office has sent its own entry for the same money;
    #: from then on the back office's entry counts and this one no longer does.
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("trust_entries.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
