"""The Settings page's other forms (admins only), one per section: branding, logo, website
origins, public trust deposits, evergreen retainers and the refund password threshold.

Each is its own Flask-WTF form with its own CSRF token and prefix, so a refused value in one
section comes back beside its field with what was typed, and the other sections show what is
stored. `section_forms(firm)` builds them all from the firm's settings. Every form that changes
a setting (these, the firm's settings and each merchant account's) is a `ReasonForm`: its
optional `reason` goes to the use case and onto each audit event of the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, RadioField, SelectChoice, StringField
from wtforms.validators import DataRequired, Length

from portal.firms.models import EvergreenMode, Firm
from portal.firms.services import firm_currency
from portal.i18n import current_locale
from portal.money import MoneyError, format_money, parse_money
from portal.payments.checkout_forms import money_message
from portal.text import FormText

#: What a refused branding value reads as, by the service's problem code.
BRANDING_MESSAGES: Mapping[str, Any] = {
    "colour_format": lazy_gettext("Enter a colour written #rrggbb, such as #1d4ed8."),
    "colour_contrast": lazy_gettext(
        "White text on this colour has a contrast of %(ratio)s:1; at least %(minimum)s:1 is "
        "needed. Choose a darker colour."
    ),
    "text_invalid": lazy_gettext("This text has characters that cannot be used."),
    "text_required": lazy_gettext("Enter the firm's name."),
    "logo_empty": lazy_gettext("Choose a PNG or JPEG file."),
    "logo_too_large": lazy_gettext("The logo is larger than 1 MB."),
    "logo_type": lazy_gettext("The logo must be a PNG or JPEG file."),
    "logo_sides": lazy_gettext(
        "The logo must be between 16 and 4096 pixels on each side; this one is "
        "%(width)sx%(height)s."
    ),
    "logo_unreadable": lazy_gettext("The logo could not be read as an image."),
    "origin": lazy_gettext(
        "Enter an origin such as https://www.example-firm.com: https://, the host and an "
        "optional port, with no path."
    ),
    "origins_too_many": lazy_gettext("A firm may have at most %(most)s website origins."),
}


def branding_message(name: str, problem: Mapping[str, Any]) -> Any:
    """The page's words for one of the branding services' problems (by its code)."""
    code = str(problem.get("code") or "")
    message = BRANDING_MESSAGES.get(code)
    if message is None:
        return problem.get("detail", "")
    params = problem.get("params") or {}
    return message % params if params else message


#: The longest reason a change may carry, as the API's `reason` (AuditReason).
REASON_MAX = 500


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class ReasonForm(FlaskForm):
    """A settings form whose change may say why (one line, kept in the audit log)."""

    reason = StringField(
        lazy_gettext("Reason for the change (kept in the audit log)"),
        filters=[_stripped],
        validators=[
            Length(max=REASON_MAX, message=lazy_gettext("Use at most %(max)d characters.")),
            FormText(),
        ],
    )

    def given_reason(self) -> str | None:
        """The reason typed, or None when left blank."""
        return self.reason.data or None


class BrandingForm(ReasonForm):
    name = StringField(
        lazy_gettext("Firm name"),
        validators=[DataRequired(lazy_gettext("Enter the firm's name.")), Length(max=200)],
    )
    brand_colour = StringField(lazy_gettext("Brand colour"), validators=[Length(max=20)])


class LogoForm(ReasonForm):
    logo = FileField(lazy_gettext("Logo file (PNG or JPEG)"))


class RemoveLogoForm(FlaskForm):
    """Only the CSRF token: removing the logo asks nothing else."""


class OriginForm(ReasonForm):
    origin = StringField(lazy_gettext("Website origin"), validators=[Length(max=300)])


class RemoveOriginForm(FlaskForm):
    origin = HiddenField(validators=[Length(max=300)])


class TrustDepositsForm(ReasonForm):
    public_trust_deposits = BooleanField(
        lazy_gettext('Offer "Deposit to trust" on the pay button and the public payment page')
    )


class EvergreenForm(ReasonForm):
    mode = RadioField(
        lazy_gettext("When a sync leaves a matter's trust below its minimum"),
        choices=[
            SelectChoice(EvergreenMode.OFF.value, lazy_gettext("Do nothing")),
            SelectChoice(
                EvergreenMode.CREATE.value, lazy_gettext("Create a replenishment request")
            ),
            SelectChoice(
                EvergreenMode.CREATE_AND_EMAIL.value,
                lazy_gettext("Create a replenishment request and email it to the client"),
            ),
        ],
    )


class RefundsForm(ReasonForm):
    refund_reauth_above = StringField(
        lazy_gettext("Ask for the password again for refunds above"),
        validators=[Length(max=40)],
    )

    def threshold_minor(self, currency: str) -> tuple[bool, int | None]:
        """(whether the typed amount is good, the amount in minor units or None for never);
        a bad amount puts its message on the field."""
        text = (self.refund_reauth_above.data or "").strip()
        if not text:
            return True, None
        locale = current_locale()
        try:
            minor = parse_money(text, currency, locale, allow_zero=True)
        except MoneyError as exc:
            # The pay pages' own words for what parse_money refused, in the user's language.
            message = money_message(exc)
            self.refund_reauth_above.errors = [*self.refund_reauth_above.errors, message]
            return False, None
        return True, minor


def section_forms(firm: Firm) -> dict[str, FlaskForm]:
    """Every section's form as the firm's stored settings fill it."""
    currency = firm_currency(firm.id)
    threshold = firm.refund_reauth_above_minor
    shown = "" if threshold is None else format_money(threshold, currency, current_locale())
    return {
        "branding": BrandingForm(
            formdata=None,
            prefix="branding",
            data={"name": firm.name, "brand_colour": firm.brand_colour or ""},
        ),
        "logo": LogoForm(formdata=None, prefix="logo"),
        "remove_logo": RemoveLogoForm(formdata=None, prefix="remove-logo"),
        "origin": OriginForm(formdata=None, prefix="origin"),
        "remove_origin": RemoveOriginForm(formdata=None, prefix="remove-origin"),
        "trust_deposits": TrustDepositsForm(
            formdata=None,
            prefix="deposits",
            data={"public_trust_deposits": firm.public_trust_deposits},
        ),
        "evergreen": EvergreenForm(
            formdata=None, prefix="evergreen", data={"mode": firm.evergreen_mode.value}
        ),
        "refunds": RefundsForm(
            formdata=None, prefix="refunds", data={"refund_reauth_above": shown}
        ),
    }


#: Each section form's prefix, for the views that read one from the request.
PREFIXES = {
    BrandingForm: "branding",
    LogoForm: "logo",
    RemoveLogoForm: "remove-logo",
    OriginForm: "origin",
    RemoveOriginForm: "remove-origin",
    TrustDepositsForm: "deposits",
    EvergreenForm: "evergreen",
    RefundsForm: "refunds",
}
