"""The audit log (admins only): the firm's audit events, filtered, a page at a time, and CSV.

Filters: the entity, the field, who acted (a staff user, any API key, any client, the command
line, the system), and a range of days in the firm's time zone (`since` through `until`, both
included). Pages go back in time by event id. The CSV holds every event the filters match
(newest first, at most CSV_MAX), the same columns as the page. A staff actor is shown by the
user's email, a client (recorded by its internal id only) by its external id and name.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from flask import g, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from portal import clock, csvfiles
from portal.audit.models import AuditEvent
from portal.audit.services import AuditFilter, events, events_page
from portal.billing import services as billing
from portal.billing.models import Client
from portal.console.auth import admin_required, bp
from portal.firms import keys
from portal.firms import services as firms
from portal.staff import accounts

#: Events per page, and most events in one CSV.
PAGE_SIZE = 50
CSV_MAX = 10_000
#: The query parameters that filter (the page's links and its CSV keep them).
FILTERS = ("entity", "field", "actor", "since", "until")


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # A GET form: it reads, never changes anything.

    entity = StringField(lazy_gettext("Record"), validators=[Optional(), Length(max=40)])
    field = StringField(lazy_gettext("Field"), validators=[Optional(), Length(max=64)])
    actor = SelectField(lazy_gettext("Who"), default="")
    since = DateField(
        lazy_gettext("From (day)"),
        validators=[Optional()],
        render_kw={"autocomplete": "off"},
    )
    until = DateField(
        lazy_gettext("Through (day)"),
        validators=[Optional()],
        render_kw={"autocomplete": "off"},
    )
    after = IntegerField(validators=[Optional()])

    def validate_until(self, field: DateField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(gettext("The last day comes before the first."))


def _actor_choices(users: Sequence[Any]) -> list[SelectChoice]:
    return [
        SelectChoice("", gettext("Anyone")),
        *[SelectChoice(f"staff:{user.id}", user.email) for user in users],
        SelectChoice("api_key", gettext("Any API key")),
        SelectChoice("client", gettext("Any client")),
        SelectChoice("cli", gettext("The command line")),
        SelectChoice("system", gettext("MatterPay itself")),
    ]


def _filters(form: AuditFilterForm, zone: dt.tzinfo) -> AuditFilter:
    kind, _, actor_id = (form.actor.data or "").partition(":")
    return AuditFilter(
        entity=(form.entity.data or "").strip() or None,
        field=(form.field.data or "").strip() or None,
        actor_kind=kind or None,
        actor_id=actor_id or None,
        since=clock.day_bounds(form.since.data, zone)[0] if form.since.data else None,
        until=clock.day_bounds(form.until.data, zone)[1] if form.until.data else None,
    )


def _who(
    event: AuditEvent,
    emails: dict[str, str],
    prefixes: dict[str, str],
    clients: dict[str, Client],
) -> str:
    if event.actor_kind == "staff":
        return emails.get(event.actor_id or "", gettext("Staff user %(id)s", id=event.actor_id))
    if event.actor_kind == "api_key":
        prefix = prefixes.get(event.actor_id or "", event.actor_id or "")
        return gettext("API key %(prefix)s…", prefix=prefix)
    if event.actor_kind == "client":
        client = clients.get(event.actor_id or "")
        if client is None:  # no longer on file: only the id the event kept
            return gettext("Client #%(id)s", id=event.actor_id)
        return gettext("Client %(id)s (%(name)s)", id=client.external_id, name=client.name)
    if event.actor_kind == "cli":
        return gettext("The command line")
    if event.actor_kind == "system":
        return gettext("MatterPay itself")
    return event.actor_kind


def _shown(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _rows(found: Sequence[AuditEvent], zone: dt.tzinfo) -> list[dict[str, Any]]:
    firm_id = g.staff.firm_id
    emails = {str(user.id): user.email for user in accounts.users_of(firm_id)}
    prefixes = {str(key.id): key.prefix for key in keys.keys_of(firm_id)}
    client_ids = {
        int(actor_id)
        for event in found
        if event.actor_kind == "client" and (actor_id := event.actor_id or "").isdecimal()
    }
    clients = {str(id_): c for id_, c in billing.clients_by_id(firm_id, client_ids).items()}
    return [
        {
            "id": event.id,
            "at": clock.local(event.at, zone),
            "at_utc": event.at,
            "who": _who(event, emails, prefixes, clients),
            "action": event.action,
            "entity": event.entity,
            "entity_id": event.entity_id,
            "field": event.field or "",
            "before": _shown(event.before),
            "after": _shown(event.after),
            "reason": event.reason or "",
        }
        for event in found
    ]


def _form() -> AuditFilterForm:
    form = AuditFilterForm(formdata=request.args)
    form.actor.choices = _actor_choices(accounts.users_of(g.staff.firm_id))
    return form


@bp.get("/audit")
@admin_required
def audit() -> ResponseReturnValue:
    zone = firms.firm_zone(g.staff.firm)
    form = _form()
    if request.args and not form.validate():
        return render_template("console/audit.html", form=form, rows=[], next_after=None), 422
    found, next_after = events_page(
        g.staff.firm_id, _filters(form, zone), after_id=form.after.data, limit=PAGE_SIZE
    )
    # Only the filters (never url_for's own `_external`, `_scheme`...) go into the links.
    query = {k: v for k, v in request.args.items() if k in FILTERS and v}
    return render_template(
        "console/audit.html",
        form=form,
        rows=_rows(found, zone),
        next_after=next_after,
        query=query,
        zone=zone,
    )


@bp.get("/audit.csv")
@admin_required
def audit_csv() -> ResponseReturnValue:
    zone = firms.firm_zone(g.staff.firm)
    form = _form()
    if not form.validate():
        return render_template("console/audit.html", form=form, rows=[], next_after=None), 422
    found = events(g.staff.firm_id, _filters(form, zone), limit=CSV_MAX)
    header = ["id", "at", "who", "action", "entity", "entity_id", "field", "before", "after"]
    fields = [*header[2:], "reason"]
    rows = (
        [row["id"], row["at"].isoformat(), *(row[k] for k in fields)] for row in _rows(found, zone)
    )
    # The times stay in the firm's zone, as the page shows them (an ISO text with its offset).
    return csvfiles.attachment([*header, "reason"], rows, "audit-log.csv")
