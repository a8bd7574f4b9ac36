"""`audit_events`: an append-only table. Nothing updates or deletes a row (the ORM refuses,
and database triggers refuse on SQLite and PostgreSQL alike); a correction is a new row."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal import clock
from portal.db import Base


class AuditEvent(Base):
    """One change: `field` of `entity` (`entity_id`) went from `before` to `after`."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_firm_id_id", "firm_id", "id"),
        Index("ix_audit_events_firm_entity", "firm_id", "entity", "entity_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: Who: "api_key", "staff", "client", "cli" or "system"; with the key's, user's or client's
    #: (internal) id where there is one. No check constraint: a new kind needs no migration.
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    #: What: a dotted verb such as "firm.updated" or "merchant_account.updated".
    action: Mapped[str] = mapped_column(String(64))
    #: Which record: "firm", "merchant_account", "payment"... and its public id.
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(64))
    #: The field that changed (None for an action with no single field, e.g. a refund).
    field: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: Why, when the actor said (free text, as typed).
    reason: Mapped[str | None] = mapped_column(Text)


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or delete an audit event."""


@event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, _context: object, _instances: object) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent):
            raise AuditLogIsAppendOnly("audit events are never changed or deleted")
