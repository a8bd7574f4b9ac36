"""The console's forms (Flask-WTF, CSRF-protected). Services judge passwords and codes; these
only say what is missing, and carry the problems a service raised back to their fields."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from portal import i18n
from portal.staff.models import StaffRole
from portal.text import FormText

#: What a service's problem codes read as on the console's pages (translated by code).
MESSAGES: Mapping[str, Any] = {
    "password-too-short": lazy_gettext("Use at least %(minimum)s characters."),
    "password-too-long": lazy_gettext("Use at most %(maximum)s characters."),
    "password-common": lazy_gettext(
        "This password is too common or too easy to guess. Try a few unrelated words."
    ),
    "password-mismatch": lazy_gettext("The two passwords are not the same."),
    "code-wrong": lazy_gettext("That code is not right. Type the 6 digits your app shows now."),
    "email-invalid": lazy_gettext("Enter a valid email address."),
    "email-taken": lazy_gettext("This address already has a console account."),
    "role-invalid": lazy_gettext("Choose admin or staff."),
    "last-admin": lazy_gettext("The firm's last admin cannot be demoted or deactivated."),
    "never-activated": lazy_gettext(
        "They never accepted their invitation: invite them again instead."
    ),
    "language": lazy_gettext("Choose a language from the list."),
}


def role_choices() -> list[tuple[str, Any]]:
    return [
        (StaffRole.STAFF.value, lazy_gettext("Staff")),
        (StaffRole.ADMIN.value, lazy_gettext("Admin")),
    ]


def email_languages() -> list[tuple[str, Any]]:
    """The languages a staff user's emails may be in: the portal's default ("" saves None),
    then each supported language by its own name (Notifications, and the Users page's invite)."""
    default = i18n.language_name(i18n.default_locale())
    return [("", gettext("The portal's default (%(language)s)", language=default))] + [
        (locale, i18n.language_name(locale)) for locale in i18n.SUPPORTED_LOCALES
    ]


def show_problems(form: FlaskForm, problems: Iterable[Mapping[str, Any]]) -> None:
    """Put each service problem next to its field (or at the top when it names none)."""
    for problem in problems:
        text = str(MESSAGES.get(problem.get("code", ""), problem.get("detail", "")))
        params = problem.get("params") or {}
        if params:
            text = text % params
        field = getattr(form, str(problem.get("field", "")), None)
        if field is not None:
            field.errors = [*field.errors, text]
        else:
            form.form_errors.append(text)


def _password(label: Any, *, autocomplete: str) -> PasswordField:
    return PasswordField(
        label,
        validators=[DataRequired(lazy_gettext("Enter the password.")), Length(max=200)],
        render_kw={"autocomplete": autocomplete},
    )


class SignInForm(FlaskForm):
    email = EmailField(
        lazy_gettext("Email"),
        validators=[
            DataRequired(lazy_gettext("Enter your email address.")),
            Length(max=254),
            FormText(),
        ],
        render_kw={"autocomplete": "username"},
    )
    password = _password(lazy_gettext("Password"), autocomplete="current-password")
    code = StringField(
        lazy_gettext("Code from your authenticator app, or a recovery code"),
        validators=[Length(max=40), FormText()],
        render_kw={"autocomplete": "one-time-code", "inputmode": "text"},
    )


class NewPasswordForm(FlaskForm):
    password = _password(lazy_gettext("New password"), autocomplete="new-password")
    confirm = _password(lazy_gettext("The new password again"), autocomplete="new-password")


class ResetPasswordForm(NewPasswordForm):
    code = StringField(
        lazy_gettext("Code from your authenticator app, or a recovery code"),
        validators=[Length(max=40), FormText()],
        render_kw={"autocomplete": "one-time-code"},
    )


class EnrolForm(FlaskForm):
    code = StringField(
        lazy_gettext("The 6-digit code your app shows"),
        validators=[DataRequired(lazy_gettext("Enter the code.")), Length(max=20), FormText()],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        lazy_gettext("Email"),
        validators=[
            DataRequired(lazy_gettext("Enter your email address.")),
            Length(max=254),
            FormText(),
        ],
        render_kw={"autocomplete": "username"},
    )


class ConfirmPasswordForm(FlaskForm):
    password = _password(lazy_gettext("Password"), autocomplete="current-password")


class InviteForm(FlaskForm):
    email = EmailField(
        lazy_gettext("Email"),
        validators=[
            DataRequired(lazy_gettext("Enter an email address.")),
            Length(max=254),
            FormText(),
        ],
    )
    role = SelectField(lazy_gettext("Role"), choices=role_choices, default="staff")
    #: Checked by the use case (`staff.accounts.invite`); the console's own language first.
    language = SelectField(
        lazy_gettext("Language of their emails"),
        choices=email_languages,
        default=i18n.current_locale,
        validate_choice=False,
    )


class RoleForm(FlaskForm):
    role = SelectField(lazy_gettext("Role"), choices=role_choices)


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
