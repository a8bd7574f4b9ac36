"""A client link: who it opens the portal for, what it may see, and when it stops working."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.billing.models import Client, Matter
from portal.db import Base

#: The matters a link is limited to; a link with none here sees all the client's matters.
link_matters = Table(
    "link_matters",
    Base.metadata,
    Column("link_id", Integer, ForeignKey("links.id", ondelete="CASCADE"), primary_key=True),
    Column("matter_id", Integer, ForeignKey("matters.id", ondelete="CASCADE"), primary_key=True),
)


class Link(Base):
    """One signed link. The token carries only `public_id`; everything else lives here."""

    __tablename__ = "links"
    __table_args__ = (Index("ix_links_firm_client", "firm_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random, opaque id: the only thing signed into the token and shown by the API.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    first_opened_at: Mapped[dt.datetime | None]
    last_opened_at: Mapped[dt.datetime | None]
    open_count: Mapped[int] = mapped_column(default=0)
    #: The firm's own note for the A/R message of payments made through this link (after the
    #: firm's default in the posting); for the back office only, never shown to the client.
    ar_note: Mapped[str | None] = mapped_column(String(200))

    client: Mapped[Client] = relationship()
    matters: Mapped[list[Matter]] = relationship(secondary=link_matters, order_by=Matter.id)

    def state(self, at: dt.datetime) -> str:
        """ "revoked", "expired" or "active" at the instant `at`."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= at:
            return "expired"
        return "active"
