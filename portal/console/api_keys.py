"""API keys (admins only): every key of the firm, create one with scopes, revoke one.

Creating asks for the password again (`recent_auth_required`); the new key is shown once, on
the page that answers the creation, and never again (only its hash is kept). The form carries
a one-time token (a hidden field made when the page is drawn): reloading that answer, which
sends the form again, or a double click finds the key the token made and creates no other.
Both actions are use cases of `portal.firms.keys` with the signed-in admin as the audit actor.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import flash, g, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectChoice, SelectMultipleField, StringField, widgets
from wtforms.validators import Length, Regexp

from portal.audit.services import Actor
from portal.console.auth import admin_required, bp, recent_auth_required
from portal.console.forms import ActionForm
from portal.console.settings import place_problems
from portal.errors import ValidationFailed
from portal.firms import keys
from portal.firms import services as firms
from portal.firms.scopes import SCOPES
from portal.text import FormText

#: What each scope opens, in the console's words.
SCOPE_LABELS: dict[str, Any] = {
    "sync": lazy_gettext("Sync: clients, matters, invoices and trust entries"),
    "links": lazy_gettext("Links and trust requests"),
    "payments:read": lazy_gettext("Payments, read only (with the dashboard and reports)"),
    "payments:refund": lazy_gettext("Refunds and applying unmatched payments"),
    "settings": lazy_gettext("The firm's settings"),
    "webhooks": lazy_gettext("Webhook endpoints and postings"),
}
MESSAGES: dict[str, Any] = {
    "label_empty": lazy_gettext("Enter a label, such as the system that will use the key."),
    "label_too_long": lazy_gettext("Use at most 100 characters."),
    "text_invalid": lazy_gettext("This text has characters that cannot be used."),
    "scopes_empty": lazy_gettext("Choose at least one scope."),
    "scope_unknown": lazy_gettext("Choose scopes from the list."),
}


def scope_choices() -> list[SelectChoice]:
    return [SelectChoice(scope, SCOPE_LABELS.get(scope, scope)) for scope in SCOPES]


class NewKeyForm(FlaskForm):
    label = StringField(lazy_gettext("Label"), validators=[Length(max=400), FormText()])
    scopes = SelectMultipleField(
        lazy_gettext("Scopes"),
        choices=scope_choices,
        validate_choice=False,
        widget=widgets.ListWidget(prefix_label=False),
        option_widget=widgets.CheckboxInput(),
    )
    #: The form's one-time token (see the module's docstring).
    once = HiddenField(
        validators=[
            Regexp(
                r"^[A-Za-z0-9_-]{16,64}$",
                message=lazy_gettext("The form had expired. Please send it again."),
            )
        ]
    )


def new_key_form() -> NewKeyForm:
    """An empty form with a fresh one-time token."""
    return NewKeyForm(formdata=None, once=secrets.token_urlsafe(24))


def _page(form: NewKeyForm | None = None, status: int = 200, **extra: Any) -> ResponseReturnValue:
    response = make_response(
        render_template(
            "console/api_keys.html",
            keys=keys.keys_of(g.staff.firm_id),
            form=form or new_key_form(),
            action=ActionForm(),
            scope_labels=SCOPE_LABELS,
            zone=firms.firm_zone(g.staff.firm),
            **extra,
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api-keys")
@admin_required
def api_keys() -> ResponseReturnValue:
    return _page()


@bp.post("/api-keys")
@admin_required
@recent_auth_required
def create_api_key() -> ResponseReturnValue:
    form = NewKeyForm()
    if not form.validate_on_submit():
        if form.once.errors:
            # No usable token: a fresh one, and the message at the top of the form.
            form.form_errors.extend(form.once.errors)
            form.once.errors = []
            form.once.data = secrets.token_urlsafe(24)
        return _page(form, 422)
    try:
        created = keys.create_key(
            g.staff.firm_id,
            label=form.label.data or "",
            scopes=form.scopes.data or [],
            actor=Actor.staff(g.staff.id),
            once=form.once.data,
        )
    except ValidationFailed as exc:
        place_problems(form, exc.errors, lambda _n, p: MESSAGES.get(p["code"], p["detail"]))
        return _page(form, 422)
    if created.is_replay:
        # This form was sent before (a reload of the answer, a double click): no new key.
        return _page(new_key_form(), 200, again=created.api_key)
    # Shown on this answer only: the page is not cached and the secret is kept nowhere.
    return _page(new_key_form(), 201, issued=created)


@bp.post("/api-keys/<int:key_id>/revoke")
@admin_required
def revoke_api_key(key_id: int) -> ResponseReturnValue:
    key = keys.key_in_firm(g.staff.firm_id, key_id)  # another firm's: 404
    if not ActionForm().validate_on_submit():
        return _page(status=422)
    keys.revoke_key(g.staff.firm_id, key.id, actor=Actor.staff(g.staff.id))
    flash(gettext("The key %(prefix)s… no longer works.", prefix=key.prefix), "info")
    return redirect(url_for("console.api_keys"), code=303)
