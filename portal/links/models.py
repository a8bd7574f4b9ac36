"""A client link: who it opens the portal for, what it may see, and when it stops working."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.billing.models import Client, Invoice, Matter
from portal.db import Base, str_enum

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
    #: The one-time token of the console form that issued it (send for payment), so the form
    #: sent again (a double click, a reload) issues and emails no second link.
    creation_token: Mapped[str | None] = mapped_column(String(64), unique=True)

    client: Mapped[Client] = relationship()
    matters: Mapped[list[Matter]] = relationship(secondary=link_matters, order_by=Matter.id)
    #: The emails that carried this link, oldest first.
    deliveries: Mapped[list[LinkDelivery]] = relationship(
        foreign_keys="LinkDelivery.link_id", back_populates="link", order_by="LinkDelivery.id"
    )
    #: The allocation the link carries (send for payment): when there are lines, the client
    #: may pay those and nothing else, never more than each line says.
    lines: Mapped[list[LinkLine]] = relationship(
        back_populates="link", order_by="LinkLine.id", cascade="all, delete-orphan"
    )

    def state(self, at: dt.datetime) -> str:
        """ "revoked", "expired" or "active" at the instant `at`."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= at:
            return "expired"
        return "active"


class LinkLine(Base):
    """One line of the allocation a link carries: an invoice, or a matter's trust deposit."""

    __tablename__ = "link_lines"
    __table_args__ = (Index("ix_link_lines_link_id", "link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"))
    #: The invoice this line pays; None for a trust deposit into `matter_id`.
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    matter_id: Mapped[int] = mapped_column(ForeignKey("matters.id", ondelete="CASCADE"))
    #: At most this much (minor units of the invoice's or matter's currency).
    amount_minor: Mapped[int] = mapped_column(BigInteger)

    link: Mapped[Link] = relationship(back_populates="lines")
    invoice: Mapped[Invoice | None] = relationship()
    matter: Mapped[Matter] = relationship()


class DeliveryState(enum.StrEnum):
    """How far an emailed link got. Each state has its own timestamp on the row."""

    #: Written and committed; the SMTP hand-off has not answered yet.
    QUEUED = "queued"
    #: The mail server accepted the message.
    SENT = "sent"
    #: The mail server refused it or could not be reached (`error` says how).
    FAILED = "failed"
    #: The client opened the link.
    OPENED = "opened"
    #: A payment started from the link succeeded.
    PAID = "paid"


class DeliveryOrigin(enum.StrEnum):
    #: The firm asked for the email (POST /api/v1/links with `send`).
    API = "api"
    #: The client asked for a fresh link from a dead link's page.
    FRESH_LINK = "fresh_link"
    #: A staff user sent it from the console (Links, or Make a payment's "send for payment").
    CONSOLE = "console"


class LinkDelivery(Base):
    """One email carrying a link to a client, and what became of it.

    A fresh link requested from a dead link's page is recorded here too, with the dead link
    in `replaces_link_id`; the per-link daily cap on fresh links counts these rows.
    """

    __tablename__ = "link_deliveries"
    __table_args__ = (
        Index("ix_link_deliveries_link_id", "link_id"),
        Index("ix_link_deliveries_replaces_created", "replaces_link_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: dl_ + random letters and digits, shown by the API and in postings.
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    #: The link the email carries.
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"))
    #: For a fresh link: the expired or revoked link whose page asked for it.
    replaces_link_id: Mapped[int | None] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"))
    origin: Mapped[DeliveryOrigin] = mapped_column(str_enum(DeliveryOrigin, "delivery_origin"))
    #: The address the email went to (the firm's override, else the client's email).
    recipient: Mapped[str] = mapped_column(String(254))
    #: The firm's own words for this email, in place of its default message; None for none.
    message: Mapped[str | None] = mapped_column(Text)
    state: Mapped[DeliveryState] = mapped_column(str_enum(DeliveryState, "delivery_state"))
    #: What the mail server (or the network) said when sending failed; never credentials.
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    sent_at: Mapped[dt.datetime | None]
    failed_at: Mapped[dt.datetime | None]
    opened_at: Mapped[dt.datetime | None]
    paid_at: Mapped[dt.datetime | None]

    link: Mapped[Link] = relationship(foreign_keys=[link_id], back_populates="deliveries")
    replaces: Mapped[Link | None] = relationship(foreign_keys=[replaces_link_id])
