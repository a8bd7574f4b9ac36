"""Each staff user's notification choices, and the events already notified (once per key)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal import clock
from portal.db import Base


class NotificationChoice(Base):
    """Whether one staff user wants an email for one kind of event (no row: the default)."""

    __tablename__ = "notification_choices"
    __table_args__ = (UniqueConstraint("staff_user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    #: One of portal.notifications.choices.Kind's values.
    kind: Mapped[str] = mapped_column(String(40))
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class NotifiedEvent(Base):
    """An event the firm's staff were emailed about: the same key never emails twice
    (processors deliver events again; a retried use case reaches the same change again)."""

    __tablename__ = "notified_events"
    __table_args__ = (UniqueConstraint("firm_id", "event_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    #: "<kind>:<what it is about>:<the event>", e.g. "payment_disputed:ch_…:evt_…".
    event_key: Mapped[str] = mapped_column(String(200))
    #: How many emails were queued for it (0 when nobody had chosen it).
    recipients: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
