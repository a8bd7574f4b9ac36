"""The forms of the console's Links & trust requests page (Flask-WTF, CSRF-protected)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional

from portal.text import FormText
from portal.trust_requests import services as trust
from portal.trust_requests.models import TrustRequestKind

#: The lifetimes a console link may have, in hours ("" keeps the portal's default, 24 hours).
HOURS = ("", "1", "4", "12", "24")


def _hours_choices() -> list[tuple[str, Any]]:
    return [("", lazy_gettext("24 hours (the longest)"))] + [
        (h, lazy_gettext("%(hours)s hours", hours=h)) for h in HOURS[1:-1]
    ]


def _no_choices() -> list[tuple[str, Any]]:
    return []


def _kind_choices() -> list[tuple[str, Any]]:
    return [
        (TrustRequestKind.RETAINER.value, lazy_gettext("Retainer")),
        (TrustRequestKind.REPLENISHMENT.value, lazy_gettext("Replenishment")),
    ]


def currency_choices(firm_id: int) -> list[tuple[str, str]]:
    """The currencies the firm holds trust money in (those a request may ask for)."""
    return [(code, code) for code in sorted(trust.trust_currencies(firm_id))]


class LinkForm(FlaskForm):
    client = StringField(
        lazy_gettext("Client id (from the back office)"),
        validators=[
            DataRequired(lazy_gettext("Enter the client's id.")),
            Length(max=100),
            FormText(),
        ],
    )
    matters = StringField(
        lazy_gettext("Matter ids (optional, separated by commas)"),
        validators=[Length(max=2000), FormText()],
    )
    expires_in = SelectField(lazy_gettext("Works for"), choices=_hours_choices, default="")
    send = BooleanField(lazy_gettext("Email the link to the client"), default=True)
    email = EmailField(
        lazy_gettext("Send to (leave empty for the client's address on file)"),
        validators=[
            Optional(),
            Email(lazy_gettext("Enter a valid email address.")),
            Length(max=254),
        ],
    )
    message = TextAreaField(
        lazy_gettext("Message (optional)"), validators=[Length(max=2000), FormText(multiline=True)]
    )

    def matter_ids(self) -> list[str]:
        return [part.strip() for part in (self.matters.data or "").split(",") if part.strip()]

    def expires_in_seconds(self) -> int | None:
        hours = self.expires_in.data or ""
        return int(hours) * 3600 if hours in HOURS[1:] else None


class TrustRequestForm(FlaskForm):
    matter = StringField(
        lazy_gettext("Matter id (from the back office)"),
        validators=[
            DataRequired(lazy_gettext("Enter the matter's id.")),
            Length(max=100),
            FormText(),
        ],
    )
    amount = StringField(
        lazy_gettext("Amount"),
        validators=[DataRequired(lazy_gettext("Enter an amount.")), Length(max=40), FormText()],
        render_kw={"inputmode": "decimal"},
    )
    #: Its choices are set per firm (`currency_choices`) before the form is shown or judged.
    currency = SelectField(lazy_gettext("Currency"), choices=_no_choices)
    kind = SelectField(lazy_gettext("Kind"), choices=_kind_choices)
    due_on = DateField(
        lazy_gettext("Due on (optional)"),
        validators=[Optional()],
        format="%Y-%m-%d",
    )
    memo = TextAreaField(
        lazy_gettext("Memo shown to the client (optional)"),
        validators=[Length(max=500), FormText(multiline=True)],
    )
    send = BooleanField(lazy_gettext("Email it to the client"), default=True)
