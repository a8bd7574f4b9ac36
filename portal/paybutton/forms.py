"""The public pay page's form (Flask-WTF, CSRF-protected): who pays, the reference, the amount.

The amount is typed text, parsed with Babel in the page's locale into minor units by
`portal.money.parse_money`; no float ever holds it. The same form, carried as hidden fields,
comes back with the confirm step, where it is read and judged again.
"""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, RadioField, SelectChoice, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from portal.money import MoneyError, parse_money
from portal.payments.checkout_forms import MAX_TYPED, money_message
from portal.payments.models import PaymentMethod
from portal.text import FormText


class PublicPaymentForm(FlaskForm):
    """What an anonymous payer types on /pay/<firm-slug>."""

    class Meta:
        # The review page carries this form again as hidden fields, and its CSRF token with it.
        csrf = True

    kind = HiddenField(default="invoice")
    name = StringField(
        lazy_gettext("Your name"),
        validators=[
            DataRequired(lazy_gettext("Enter your name.")),
            Length(max=200),
            FormText(),
        ],
    )
    email = EmailField(
        lazy_gettext("Your email (for the receipt)"),
        validators=[
            DataRequired(lazy_gettext("Enter your email address.")),
            Email(lazy_gettext("Enter a valid email address."), check_deliverability=False),
            Length(max=254),
            FormText(),
        ],
    )
    #: Trust deposits only: the client's name as the firm knows it. A deposit is taken only
    #: when it and the matter number both match, so the form tells a stranger nothing about
    #: which matter numbers exist (services.prepare).
    client_name = StringField(
        lazy_gettext("The client's name"),
        validators=[Optional(), Length(max=200)],
    )
    reference = StringField(
        lazy_gettext("Invoice or matter number"),
        validators=[
            DataRequired(lazy_gettext("Enter the reference.")),
            Length(max=64),
            FormText(),
        ],
    )
    amount = StringField(
        lazy_gettext("Amount"), validators=[DataRequired(lazy_gettext("Enter an amount."))]
    )
    method = RadioField(
        lazy_gettext("Pay by"),
        choices=[
            SelectChoice(PaymentMethod.CARD.value, lazy_gettext("Card")),
            SelectChoice(PaymentMethod.ACH.value, lazy_gettext("Bank account (ACH)")),
        ],
        default=PaymentMethod.CARD.value,
        validators=[DataRequired(lazy_gettext("Choose how you want to pay."))],
    )

    def amount_minor(self, currency: str, locale: str) -> int | None:
        """The typed amount in minor units, or None with the reason added to the field."""
        try:
            return parse_money((self.amount.data or "")[:MAX_TYPED], currency, locale)
        except MoneyError as exc:
            self.amount.errors = [*self.amount.errors, money_message(exc)]
            return None
