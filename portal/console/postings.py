"""Postings (any staff): held postings with select-and-release, failed ones with replay, and
each webhook endpoint with its recent delivery log and a test ping. Managing endpoints
(register, rotate the secret, disable/enable, send what was missed, delete) is for admins.

Every action calls the use case its API route calls (portal.api.webhooks): release_held,
replay_message, ping_endpoint, create/update/delete_endpoint, rotate_endpoint_secret and
replay_to_endpoint, all scoped to `g.staff.firm_id` (another firm's id is 404 there).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import StringField, URLField
from wtforms.validators import DataRequired, Length

from portal.audit.services import Actor
from portal.console.auth import admin_required, bp, staff_required
from portal.console.forms import ActionForm
from portal.errors import Conflict, ValidationFailed
from portal.firms.services import firm_zone
from portal.payments.postings import payment_public_ids
from portal.postings import endpoints, log, outbox
from portal.postings.models import MessageStatus
from portal.postings.network import UnsafeTarget
from portal.text import FormText, unstorable

#: How many held or failed postings the page lists at once (oldest first).
PAGE = 100


class EndpointForm(FlaskForm):
    url = URLField(
        lazy_gettext("URL"),
        validators=[
            DataRequired(lazy_gettext("Enter the endpoint's URL.")),
            Length(max=2000),
            FormText(),
        ],
    )
    description = StringField(lazy_gettext("Description"), validators=[Length(max=300), FormText()])


def _actor() -> Actor:
    return Actor.staff(g.staff.id)


def _page(
    new_endpoint: EndpointForm | None = None, status: int = 200, **extra: Any
) -> ResponseReturnValue:
    firm_id = g.staff.firm_id
    held, _ = outbox.messages_page(firm_id, status=MessageStatus.HELD, after_id=None, limit=PAGE)
    failed, _ = outbox.messages_page(
        firm_id, status=MessageStatus.FAILED, after_id=None, limit=PAGE
    )
    items, _ = endpoints.endpoints_page(firm_id, after_id=None, limit=PAGE)
    payments = payment_public_ids(m.payment_id for m in [*held, *failed])
    return (
        render_template(
            "console/postings.html",
            held=held,
            failed=failed,
            payments=payments,
            endpoints=[(endpoint, log.recent_deliveries(endpoint)) for endpoint in items],
            new_endpoint=new_endpoint or EndpointForm(),
            action=ActionForm(),
            page_zone=firm_zone(g.staff.firm),
            **extra,
        ),
        status,
        {"Cache-Control": "no-store"},
    )


def _back() -> ResponseReturnValue:
    return redirect(url_for("console.postings"), code=303)


def _refused(exc: Conflict | ValidationFailed) -> ResponseReturnValue:
    return _page(status=409 if isinstance(exc, Conflict) else 422, problems=[str(exc)])


def _csrf_ok() -> bool:
    return ActionForm().validate_on_submit()


@bp.get("/postings")
@staff_required
def postings() -> ResponseReturnValue:
    return _page()


@bp.post("/postings/release")
@staff_required
def release_postings() -> ResponseReturnValue:
    """Release the ticked held postings, or every one with the "Release all" button."""
    if not _csrf_ok():
        return _page(status=422, problems=[gettext("The form had expired. Please send it again.")])
    ticked = [m for m in request.form.getlist("message") if not unstorable(m)][:PAGE]
    chosen = None if request.form.get("all") else ticked
    if chosen is not None and not chosen:
        return _page(status=422, problems=[gettext("Tick at least one posting to release.")])
    released = outbox.release_held(firm_id=g.staff.firm_id, message_ids=chosen)
    flash(
        gettext("%(count)s posting(s) released for delivery.", count=len(released)),
        "info",
    )
    return _back()


@bp.post("/postings/messages/<message_id>/replay")
@staff_required
def replay_posting(message_id: str) -> ResponseReturnValue:
    outbox.message_for_firm(g.staff.firm_id, message_id)  # 404 before the form is judged
    if not _csrf_ok():
        return _page(status=422, problems=[gettext("The form had expired. Please send it again.")])
    try:
        resent = outbox.replay_message(firm_id=g.staff.firm_id, public_id=message_id)
    except Conflict as exc:
        return _refused(exc)
    flash(
        gettext(
            "%(message)s queued again for %(count)s endpoint(s).",
            message=resent.message.public_id,
            count=len(resent.endpoints),
        ),
        "info",
    )
    return _back()


@bp.post("/postings/endpoints/<endpoint_id>/ping")
@staff_required
def ping_endpoint(endpoint_id: str) -> ResponseReturnValue:
    endpoint = endpoints.endpoint_for_firm(g.staff.firm_id, endpoint_id)
    if not _csrf_ok():
        return _page(status=422, problems=[gettext("The form had expired. Please send it again.")])
    message = endpoints.ping_endpoint(firm_id=g.staff.firm_id, public_id=endpoint.public_id)
    flash(
        gettext(
            "Test ping %(message)s queued for %(url)s.", message=message.public_id, url=endpoint.url
        ),
        "info",
    )
    return _back()


# -- admins: managing endpoints ------------------------------------------------------------


@bp.post("/postings/endpoints")
@admin_required
def create_endpoint() -> ResponseReturnValue:
    form = EndpointForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    try:
        endpoint = endpoints.create_endpoint(
            firm_id=g.staff.firm_id,
            url=(form.url.data or "").strip(),
            description=(form.description.data or "").strip(),
            event_types=None,
            actor=_actor(),
        )
    except UnsafeTarget:
        form.url.errors = [
            *form.url.errors,
            gettext("This URL cannot receive postings: use https and a public host name."),
        ]
        return _page(form, 422)
    except ValidationFailed as exc:
        form.form_errors.append(str(exc))
        return _page(form, 422)
    return _page(secret_for=endpoint, secret=endpoint.secret)


@bp.post("/postings/endpoints/<endpoint_id>/rotate")
@admin_required
def rotate_secret(endpoint_id: str) -> ResponseReturnValue:
    """The new secret is shown on this answer only (never again, nor kept in a flash)."""
    endpoint = endpoints.endpoint_for_firm(g.staff.firm_id, endpoint_id)
    if not _csrf_ok():
        return _page(status=422, problems=[gettext("The form had expired. Please send it again.")])
    rotation = endpoints.rotate_endpoint_secret(
        firm_id=g.staff.firm_id, public_id=endpoint.public_id, actor=_actor()
    )
    return _page(
        secret_for=endpoint,
        secret=rotation.secret,
        previous_until=rotation.previous_secret_expires_at,
    )


@bp.post("/postings/endpoints/<endpoint_id>/disable")
@admin_required
def disable_endpoint(endpoint_id: str) -> ResponseReturnValue:
    endpoint = endpoints.endpoint_for_firm(g.staff.firm_id, endpoint_id)
    if not _csrf_ok():
        return _page(status=422, problems=[gettext("The form had expired. Please send it again.")])
    endpoints.update_endpoint(
        firm_id=g.staff.firm_id,
        public_id=endpoint.public_id,
        enabled=False,
        pause_reason="Disabled in the console.",
        actor=_actor(),
    )
    flash(gettext("%(url)s is disabled: nothing is sent to it.", url=endpoint.url), "info")
    return _back()


@bp.post("/postings/endpoints/<endpoint_id>/enable")
@admin_required
def enable_endpoint(endpoint_id: str) -> ResponseReturnValue:
    """Enabling answers how many messages were missed meanwhile, with a button sending them."""
    endpoint = endpoints.endpoint_for_firm(g.staff.firm_id, endpoint_id)
    if not _csrf_ok():
        return _page(status=422, problems=[gettext("The form had expired. Please send it again.")])
    update = endpoints.update_endpoint(
        firm_id=g.staff.firm_id, public_id=endpoint.public_id, enabled=True, actor=_actor()
    )
    return _page(enabled=update.endpoint, missed=update.missed)


@bp.post("/postings/endpoints/<endpoint_id>/send-missed")
@admin_required
def send_missed(endpoint_id: str) -> ResponseReturnValue:
    endpoint = endpoints.endpoint_for_firm(g.staff.firm_id, endpoint_id)
    if not _csrf_ok():
        return _page(status=422, problems=[gettext("The form had expired. Please send it again.")])
    try:
        since = dt.datetime.fromisoformat(request.form.get("since", ""))
    except ValueError:
        since = None
    if since is None or since.tzinfo is None:
        return _page(status=422, problems=[gettext("The time to send from is missing.")])
    try:
        replay = endpoints.replay_to_endpoint(
            firm_id=g.staff.firm_id, public_id=endpoint.public_id, since=since
        )
    except (Conflict, ValidationFailed) as exc:
        return _refused(exc)
    if replay.capped:
        text = gettext(
            "%(count)s messages queued for %(url)s; more remain: send the missed messages again.",
            count=len(replay.messages),
            url=endpoint.url,
        )
    else:
        text = gettext(
            "%(count)s message(s) queued for %(url)s.", count=len(replay.messages), url=endpoint.url
        )
    flash(text, "info")
    return _back()


@bp.post("/postings/endpoints/<endpoint_id>/delete")
@admin_required
def delete_endpoint(endpoint_id: str) -> ResponseReturnValue:
    endpoint = endpoints.endpoint_for_firm(g.staff.firm_id, endpoint_id)
    if not _csrf_ok():
        return _page(status=422, problems=[gettext("The form had expired. Please send it again.")])
    endpoints.delete_endpoint(firm_id=g.staff.firm_id, public_id=endpoint.public_id, actor=_actor())
    flash(gettext("%(url)s is deleted, with its delivery log.", url=endpoint.url), "info")
    return _back()
