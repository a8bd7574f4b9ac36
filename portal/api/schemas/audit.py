"""The audit log (GET /audit-events): who changed which setting, when, from what to what."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from portal.api.schemas.common import NEXT_CURSOR, ListQuery, Output
from portal.audit.models import AuditEvent
from portal.audit.services import AuditFilter

Word = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class AuditListQuery(ListQuery):
    """Query parameters of GET /audit-events: the page, and conditions that must all hold."""

    entity: Word | None = Field(
        default=None, description='The kind of record: "firm", "webhook_endpoint", "api_key"...'
    )
    entity_id: Word | None = Field(
        default=None, description="The record's public id (a firm's slug, an endpoint's ep_…)."
    )
    field: Word | None = Field(default=None, description='The setting, e.g. "auto_post".')
    action: Word | None = Field(default=None, description='e.g. "firm.updated".')
    actor_kind: Literal["api_key", "staff", "client", "cli", "system"] | None = Field(
        default=None,
        description="Who acted: an API key, a staff user, a client on its pages, the CLI or "
        "the portal.",
    )
    actor_id: Word | None = Field(
        default=None, description="The API key's, staff user's or client's (internal) id."
    )
    since: AwareDatetime | None = Field(
        default=None, description="Events at or after this ISO 8601 instant (with an offset)."
    )
    until: AwareDatetime | None = Field(
        default=None, description="Events before this ISO 8601 instant (with an offset)."
    )

    def filters(self) -> AuditFilter:
        return AuditFilter(**self.model_dump(exclude=set(ListQuery.model_fields)))


class ActorOut(Output):
    kind: str = Field(description='"api_key", "staff", "client", "cli" or "system".')
    id: str | None = Field(
        description="The API key's or staff user's id, or the client's internal id (never its "
        "external id, name or email); null for cli/system."
    )


class AuditEventOut(Output):
    id: int
    at: dt.datetime
    actor: ActorOut
    action: str = Field(description='A dotted verb, e.g. "firm.updated".')
    entity: str
    entity_id: str
    field: str | None = Field(description="The setting that changed; null for a whole record.")
    before: Any = Field(description="The value before (JSON); null when there was none.")
    after: Any = Field(description="The value after (JSON); never a secret.")
    reason: str | None

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        shown = {name: getattr(event, name) for name in cls.model_fields if name != "actor"}
        return cls(actor=ActorOut(kind=event.actor_kind, id=event.actor_id), **shown)


class AuditEventPage(Output):
    data: list[AuditEventOut]
    next_cursor: str | None = NEXT_CURSOR
