"""Notifications (every staff user, each their own): which events they are emailed about, and
in which language.

The choices are the signed-in user's only: the page reads and saves `g.staff`'s, never
another user's, so it takes no user id. Saving calls `notifications.choices.save_choices`
(the kinds and the language together) with the user as the audit actor. There is no API
route: an API key acts for the firm, and no key owns a staff user whose inbox it could choose
for.
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField

from portal.audit.services import Actor
from portal.console.auth import bp, staff_required
from portal.console.forms import email_languages
from portal.errors import ValidationFailed
from portal.notifications.choices import KEEP_LANGUAGE, Kind, choices_of, save_choices

#: What each kind reads as on the page, in the order of `Kind`.
LABELS: dict[Kind, Any] = {
    Kind.PAYMENT_SUCCEEDED: lazy_gettext("A payment succeeds"),
    Kind.PAYMENT_FAILED: lazy_gettext("A payment fails"),
    Kind.PAYMENT_REFUNDED: lazy_gettext("A payment is refunded"),
    Kind.PAYMENT_DISPUTED: lazy_gettext("A payment is disputed, or a dispute is won"),
    Kind.PAYMENT_RETURNED: lazy_gettext("A bank payment is returned"),
    Kind.TRUST_SHORTFALL: lazy_gettext("A matter's trust balance falls below zero"),
    Kind.ENDPOINT_DISABLED: lazy_gettext("A webhook endpoint is disabled"),
    Kind.UNMATCHED_PAYMENT: lazy_gettext("An unmatched payment arrives"),
}


class NotificationsForm(FlaskForm):
    """The language of the emails, and one checkbox per kind (a field named by its value)."""

    #: Checked by the use case (`staff.accounts.set_language`); a form without it keeps it.
    language = SelectField(
        lazy_gettext("Language of these emails"), choices=email_languages, validate_choice=False
    )


for _kind in Kind:
    setattr(NotificationsForm, _kind.value, BooleanField(LABELS[_kind]))


def _page(form: NotificationsForm, status: int = 200) -> ResponseReturnValue:
    fields = [form[kind.value] for kind in Kind]
    return render_template("console/notifications.html", form=form, fields=fields), status


@bp.get("/notifications")
@staff_required
def notifications() -> ResponseReturnValue:
    current = choices_of(g.staff)
    data: dict[str, Any] = {kind.value: on for kind, on in current.items()}
    data["language"] = g.staff.language or ""
    return _page(NotificationsForm(data=data))


@bp.post("/notifications")
@staff_required
def save_notifications() -> ResponseReturnValue:
    form = NotificationsForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    wanted = {kind: bool(form[kind.value].data) for kind in Kind}
    language = (form.language.data or None) if "language" in request.form else KEEP_LANGUAGE
    try:
        changed = save_choices(g.staff, wanted, Actor.staff(g.staff.id), language=language)
    except ValidationFailed:
        form.language.errors = [gettext("Choose a language from the list.")]
        return _page(form, 422)
    flash(
        gettext("Your notifications are saved.") if changed else gettext("Nothing changed."),
        "info",
    )
    return redirect(url_for("console.notifications"), code=303)
