"""The public pay page's form (Flask-WTF, CSRF-protected): who pays, the reference, the amount.

The amount is typed text, parsed with Babel in the page's locale into minor units by
`portal.money.parse_money`; no float ever holds it. The same form, carried as hidden fields,
comes back with the confirm step, where it is read and judged again.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, RadioField, SelectChoice, StringField
from wtforms.validators import DataRequired, Email, Length

from portal.money import MoneyError, parse_money
from portal.payments import forms as payment_forms
from portal.payments.models import PaymentMethod


class PublicPaymentForm(FlaskForm):
    """What an anonymous payer types on /pay/<firm-slug>."""

    class Meta:
        # The review page carries this form again as hidden fields, and its CSRF token with it.
        csrf = True

    kind = HiddenField(default="invoice")
    name = StringField(
        _l("Your name"), validators=[DataRequired(_l("Enter your name.")), Length(max=200)]
    )
    email = EmailField(
        _l("Your email (for the receipt)"),
        validators=[
            DataRequired(_l("Enter your email address.")),
            Email(_l("Enter a valid email address."), check_deliverability=False),
            Length(max=254),
        ],
    )
    reference = StringField(
        _l("Invoice or matter number"),
        validators=[DataRequired(_l("Enter the reference.")), Length(max=64)],
    )
    amount = StringField(_l("Amount"), validators=[DataRequired(_l("Enter an amount."))])
    method = RadioField(
        _l("Pay by"),
        choices=[
            SelectChoice(PaymentMethod.CARD.value, _l("Card")),
            SelectChoice(PaymentMethod.ACH.value, _l("Bank account (ACH)")),
        ],
        default=PaymentMethod.CARD.value,
        validators=[DataRequired(_l("Choose how you want to pay."))],
    )

    def amount_minor(self, currency: str, locale: str) -> int | None:
        """The typed amount in minor units, or None with the reason added to the field."""
        try:
            return parse_money((self.amount.data or "")[:40], currency, locale)
        except MoneyError as exc:
            self.amount.errors = [*self.amount.errors, payment_forms._money_message(exc, currency)]
            return None
