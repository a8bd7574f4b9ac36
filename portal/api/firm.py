"""The firm's settings and its audit log under /api/v1.

GET/PATCH /firm read and change the firm's posting settings, alert address, time zone,
identity and link email words through `portal.firms.settings.update_firm_settings`, which
audits each change (with the body's `reason`, if any); GET /audit-events lists what was
changed, by whom, newest first.
"""

from __future__ import annotations

from flask import g

from portal.api.auth import actor
from portal.api.schemas import encode_cursor
from portal.api.schemas.audit import AuditEventOut, AuditEventPage, AuditListQuery
from portal.api.schemas.firm import FirmOut, FirmPatchIn
from portal.api.views import api, page_size
from portal.audit import services as audit
from portal.firms import scopes
from portal.firms.models import Firm
from portal.firms.services import firm_by_id
from portal.firms.settings import update_firm_settings
from portal.postings.holding import held_count


def _out(firm: Firm) -> FirmOut:
    return FirmOut.of(firm, held_postings=held_count(firm.id))


@api.route(
    "GET",
    "/firm",
    scope=scopes.SETTINGS,
    summary="Read the firm's settings",
    tag="firm",
    responses={200: FirmOut},
)
def get_firm() -> FirmOut:
    """`time_zone` and `ar_message` are the values in force, with `…_is_default` saying
    whether the portal's default applies; `held_postings` counts what waits for release."""
    return _out(firm_by_id(g.firm_id))


@api.route(
    "PATCH",
    "/firm",
    scope=scopes.SETTINGS,
    summary="Change the firm's settings",
    tag="firm",
    body=FirmPatchIn,
    responses={200: FirmOut},
)
def patch_firm(body: FirmPatchIn) -> FirmOut:
    """Only the fields sent change; null (or blank text) restores a setting's default. A bad
    field is a 422 naming it, and nothing is saved. Each change is appended to the audit log
    (GET /audit-events) with the calling key as actor; sending the same body again changes
    and records nothing. Turning `auto_post` on releases nothing held: `held_postings` and
    `held_notice` say what still waits for POST /postings/release. A `reason` is kept on
    each of the change's audit events."""
    firm = update_firm_settings(g.firm_id, body.changes(), actor(), reason=body.reason or None)
    return _out(firm)


@api.route(
    "GET",
    "/audit-events",
    scope=scopes.SETTINGS,
    summary="List the audit log",
    tag="audit",
    query=AuditListQuery,
    responses={200: AuditEventPage},
)
def list_audit_events(query: AuditListQuery) -> AuditEventPage:
    """Newest first; follow `next_cursor` until it is null. Every filter given must hold;
    `since` is inclusive, `until` is not. Only the calling firm's events are listed, and the
    log is append-only: nothing changes or removes an event."""
    items, last_id = audit.events_page(
        g.firm_id, query.filters(), after_id=query.after_id, limit=page_size(query)
    )
    return AuditEventPage(
        data=[AuditEventOut.of(event) for event in items], next_cursor=encode_cursor(last_id)
    )
