"""Append to the audit log, and read it back.

Every use case that changes a setting (or, later, money by a person's hand) calls `record`
in its own transaction, so the change and its audit row commit or roll back together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from portal.audit.models import AuditEvent
from portal.db import db


@dataclass(frozen=True)
class Actor:
    """Who acts: an API key ("api_key", its id), a staff user ("staff", id), a client on its
    own pages ("client", the client's internal id: never a name or an address), the CLI, the
    system."""

    kind: str
    id: str | None = None

    @classmethod
    def api_key(cls, key_id: int) -> Actor:
        return cls("api_key", str(key_id))

    @classmethod
    def staff(cls, user_id: int) -> Actor:
        return cls("staff", str(user_id))

    @classmethod
    def client(cls, client_id: int) -> Actor:
        return cls("client", str(client_id))


CLI = Actor("cli")
SYSTEM = Actor("system")


def record(
    firm_id: int,
    actor: Actor,
    *,
    action: str,
    entity: str,
    entity_id: str | int,
    field: str | None = None,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
) -> AuditEvent:
    """Append one audit event (not committed: it joins the caller's unit of work)."""
    row = AuditEvent(
        firm_id=firm_id,
        actor_kind=actor.kind,
        actor_id=actor.id,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        field=field,
        before=before,
        after=after,
        reason=reason,
    )
    db.session.add(row)
    return row


def record_changes(
    firm_id: int,
    actor: Actor,
    *,
    action: str,
    entity: str,
    entity_id: str | int,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    reason: str | None = None,
) -> list[AuditEvent]:
    """Append one event per field whose value differs between `before` and `after`."""
    return [
        record(
            firm_id,
            actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            field=name,
            before=before.get(name),
            after=value,
            reason=reason,
        )
        for name, value in after.items()
        if before.get(name) != value
    ]


@dataclass(frozen=True)
class AuditFilter:
    entity: str | None = None
    entity_id: str | None = None
    field: str | None = None
    action: str | None = None
    actor_kind: str | None = None
    actor_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def events_query(firm_id: int, filters: AuditFilter) -> Select[AuditEvent]:
    """The firm's audit events matching `filters`, newest first."""
    query = select(AuditEvent).where(AuditEvent.firm_id == firm_id)
    for column, value in (
        (AuditEvent.entity, filters.entity),
        (AuditEvent.entity_id, filters.entity_id),
        (AuditEvent.field, filters.field),
        (AuditEvent.action, filters.action),
        (AuditEvent.actor_kind, filters.actor_kind),
        (AuditEvent.actor_id, filters.actor_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.since is not None:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.at < filters.until)
    return query.order_by(AuditEvent.id.desc())


def events(firm_id: int, filters: AuditFilter, *, limit: int = 100) -> Sequence[AuditEvent]:
    return db.session.scalars(events_query(firm_id, filters).limit(limit)).all()


def events_page(
    firm_id: int, filters: AuditFilter, *, after_id: int | None, limit: int
) -> tuple[list[AuditEvent], int | None]:
    """A page of the firm's events matching `filters`, newest first, older than `after_id`;
    and the id the next page continues after (None on the last page)."""
    query = events_query(firm_id, filters)
    if after_id is not None:
        query = query.where(AuditEvent.id < after_id)
    rows = list(db.session.scalars(query.limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], rows[limit - 1].id
