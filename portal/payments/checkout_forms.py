"""What both pay faces read from a payer, the same way: amounts, card or bank, nonce, mandate.

The client's pay flow (portal.client) and the public pay page (portal.paybutton) are faces
that never import each other; what they share lives here, below both: the messages for what
`parse_money` refused (chosen by the error's code, never by its English text), the card and
bank details read into an `Instrument` for one request only (never put back into a page, a log
or the database), the idempotency nonce and the keys derived from it, the bank debit
authorization text, and the one place the browser's publishable key is read.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from portal import clock, gateways
from portal.firms.identity import contact_of
from portal.firms.models import Firm, MerchantAccount
from portal.gateways.base import Instrument
from portal.i18n import current_locale
from portal.money import MoneyError, format_money, parse_money
from portal.text import form_message, text_problem

#: Longest text kept from any one box; anything longer is not an amount anyway.
MAX_TYPED = 40
#: The nonce is `secrets.token_urlsafe(NONCE_BYTES)`: 32 characters of [A-Za-z0-9_-].
NONCE_BYTES = 24
NONCE = re.compile(r"[A-Za-z0-9_-]{32}")
PAYMENT_METHOD_ID = re.compile(r"pm_[A-Za-z0-9_]{1,200}")
ACCOUNT_TYPES = ("checking", "savings")


# -- errors by field, in the payer's language -------------------------------------------------


def _places_message(params: Mapping[str, Any]) -> str:
    places = int(params.get("places", 2))
    if places == 0:
        return _("Use whole amounts only.")
    return _("Use at most %(places)d decimal places.", places=places)


def _amount(params: Mapping[str, Any], key: str) -> str:
    """The amount `params[key]` (minor units of `params["currency"]`) in the payer's locale."""
    return format_money(int(params[key]), str(params["currency"]), current_locale())


#: What the pay pages say for each code a service or `parse_money` gives, in the payer's
#: language (the catalogs hold these message ids); `params` come from the error.
MESSAGES: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "amount_missing": lambda _p: _("Enter an amount."),
    "amount_not_a_number": lambda _p: _("Enter the amount as a number, for example 1250.00."),
    "amount_invalid": lambda _p: _("Enter the amount as a number, for example 1250.00."),
    "amount_too_precise": _places_message,
    "amount_negative": lambda _p: _("The amount cannot be negative."),
    "amount_zero": lambda _p: _("Enter an amount above zero."),
    "amount_too_large": lambda _p: _("That amount is too large."),
    # portal.payments.allocation: a total spread over the open invoices
    "total_not_positive": lambda _p: _("Enter an amount above zero."),
    "total_over_due": lambda p: _(
        "That is more than the %(amount)s due in all.", amount=_amount(p, "due_minor")
    ),
    "total_too_large": lambda _p: _("That total is too large."),
    # ... each invoice line
    "invoice_not_payable": lambda _p: _("This invoice is not open for payment."),
    "invoice_amount_not_positive": lambda p: _(
        "Enter an amount above zero for invoice %(number)s.", number=p["number"]
    ),
    "invoice_over_payable": lambda p: _(
        "Invoice %(number)s has %(amount)s left to pay.",
        number=p["number"],
        amount=_amount(p, "left_minor"),
    ),
    "invoice_partial_not_allowed": lambda p: _(
        "Invoice %(number)s must be paid in full.", number=p["number"]
    ),
    "invoice_below_minimum": lambda p: _(
        "The smallest payment is %(amount)s.", amount=_amount(p, "minimum_minor")
    ),
    # ... each trust deposit (by matter, or paying a trust request)
    "deposit_not_accepted": lambda _p: _("This matter does not take trust deposits here."),
    "deposit_not_positive": lambda _p: _("Enter a deposit above zero."),
    "deposit_below_minimum": lambda p: _(
        "The smallest deposit is %(amount)s.", amount=_amount(p, "minimum_minor")
    ),
    "deposit_too_large": lambda _p: _("That deposit is too large."),
    "request_not_payable": lambda _p: _("This trust request is not open for payment."),
    "request_amount_not_positive": lambda _p: _(
        "Enter an amount above zero for this trust request."
    ),
    "request_over_payable": lambda p: _(
        "This trust request has %(amount)s left to pay.", amount=_amount(p, "left_minor")
    ),
    # ... a link that carries an allocation (send for payment)
    "line_not_carried": lambda _p: _("This line is not part of the payment asked for."),
    "line_over_carried": lambda p: _(
        "The firm asked for %(amount)s at most on this line.", amount=_amount(p, "most_minor")
    ),
    "line_partial_not_allowed": lambda _p: _("This line must be paid in full."),
    # portal.payments.staff_payments: the console's Make a payment
    "one_client": lambda _p: _("A payment pays the lines of one client at a time."),
    # ... the basket as a whole
    "basket_empty": lambda _p: _("Choose at least one invoice or enter a trust deposit."),
    "basket_mixed_currencies": lambda _p: _("Pay amounts in one currency at a time."),
    # portal.trust_requests.holds: another payment got to the request first
    "request_changed": lambda _p: _(
        "This trust request was just paid or changed. Please review and try again."
    ),
    "review_again": lambda _p: _("Please review your payment again."),
    "mandate_missing": lambda _p: _("Accept the authorization to continue."),
    "invoice_changed": lambda _p: _(
        "This invoice was just paid or changed. Please review and try again."
    ),
}


def message_for(code: str | None, params: Mapping[str, Any], default: str) -> str:
    """The payer's message for `code`, or `default` (a service's own text) for other codes."""
    render = MESSAGES.get(code or "")
    return render(params) if render is not None else default


def money_message(exc: MoneyError) -> str:
    """Say in the payer's language what `parse_money` refused, by the error's code."""
    return message_for(exc.code, exc.params, MESSAGES["amount_invalid"]({}))


class FieldErrors(dict[str, list[str]]):
    """Messages by field name ("invoice-<id>", "trust-<matter id>", "total", "basket", ...)."""

    def add(self, name: str, message: str) -> None:
        self.setdefault(name, []).append(message)

    def extend(self, errors: Iterable[Mapping[str, Any]]) -> None:
        """Add a service's `errors` list ([{"field": ..., "detail": ..., "code": ...}]); a
        code the pay pages know is shown in the payer's words, else the service's text."""
        for error in errors:
            detail = message_for(
                error.get("code"), error.get("params") or {}, str(error.get("detail") or "")
            )
            self.add(str(error.get("field") or "basket"), detail)


def typed(value: str | None) -> str:
    """What was typed in one box, trimmed to what any box may hold."""
    return (value or "").strip()[:MAX_TYPED]


def read_amount(
    text: str, currency: str, locale: str, name: str, errors: FieldErrors
) -> int | None:
    """`text` as minor units of `currency` read in `locale`, or None with why under `name`."""
    try:
        return parse_money(text, currency, locale)
    except MoneyError as exc:
        errors.add(name, money_message(exc))
        return None


# -- card and bank details ----------------------------------------------------------------------


def _digits(value: str | None) -> str:
    # ASCII only: str.isdigit() also says yes to "²" (int() refuses it) and Arabic-Indic digits.
    return "".join(ch for ch in (value or "") if ch in "0123456789")


def _luhn_ok(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _routing_ok(number: str) -> bool:
    """The ABA routing number checksum (weights 3, 7, 1)."""
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(number, weights, strict=True)) % 10 == 0


def _expiry(text: str, errors: FieldErrors) -> str | None:
    match = re.fullmatch(r"\s*(\d{1,2})\s*/?\s*(\d{2}|\d{4})\s*", text or "")
    if not match:
        errors.add("card_expiry", _("Enter the expiry date as MM/YY."))
        return None
    month, year = int(match.group(1)), int(match.group(2)) % 100
    if not 1 <= month <= 12:
        errors.add("card_expiry", _("Enter the expiry date as MM/YY."))
        return None
    today = clock.today()
    if (2000 + year, month) < (today.year, today.month):
        errors.add("card_expiry", _("This card has expired."))
        return None
    return f"{month:02d}/{year:02d}"


def read_card(form: MultiDict[str, str], errors: FieldErrors) -> Instrument:
    """The card typed on the page (the offline gateway's own fields)."""
    number = _digits(form.get("card_number"))
    if not number:
        errors.add("card_number", _("Enter the card number."))
    elif not 12 <= len(number) <= 19 or not _luhn_ok(number):
        errors.add("card_number", _("Check the card number: it is not a valid card number."))
    expiry = _expiry(form.get("card_expiry", ""), errors)
    cvc = _digits(form.get("card_cvc"))
    if len(cvc) not in (3, 4):
        errors.add("card_cvc", _("Enter the 3 or 4 digit security code."))
    holder = (form.get("card_name") or "").strip()[:200]
    if not holder:
        errors.add("card_name", _("Enter the name on the card."))
    elif text_problem(holder) is not None:
        errors.add("card_name", str(form_message()))
    return Instrument(card_number=number, card_expiry=expiry, card_cvc=cvc, card_holder=holder)


def read_bank(form: MultiDict[str, str], errors: FieldErrors) -> Instrument:
    """The bank account typed on the page (the offline gateway's own fields)."""
    holder = (form.get("account_holder") or "").strip()[:200]
    if not holder:
        errors.add("account_holder", _("Enter the account holder's name."))
    elif text_problem(holder) is not None:
        errors.add("account_holder", str(form_message()))
    routing = _digits(form.get("routing_number"))
    if len(routing) != 9 or not _routing_ok(routing):
        errors.add("routing_number", _("Enter the 9 digit routing number."))
    account = _digits(form.get("account_number"))
    if not 4 <= len(account) <= 17:
        errors.add("account_number", _("Enter the account number (4 to 17 digits)."))
    if form.get("account_type") not in ACCOUNT_TYPES:
        errors.add("account_type", _("Choose checking or savings."))
    return Instrument(
        routing_number=routing,
        account_number=account,
        account_holder=holder,
        account_type=form.get("account_type"),
    )


def read_payment_method(form: MultiDict[str, str], errors: FieldErrors) -> Instrument:
    """The payment method id Stripe.js made in the browser (the card never reaches us)."""
    payment_method_id = (form.get("payment_method_id") or "").strip()
    if not PAYMENT_METHOD_ID.fullmatch(payment_method_id):
        errors.add("payment", _("Enter your payment details."))
    return Instrument(payment_method_id=payment_method_id)


def read_instrument(
    form: MultiDict[str, str], *, on_stripe: bool, card: bool, errors: FieldErrors
) -> Instrument:
    """The payment details of a confirm form: Stripe.js's id, else the card or the bank."""
    if on_stripe:
        return read_payment_method(form, errors)
    return read_card(form, errors) if card else read_bank(form, errors)


# -- once only ---------------------------------------------------------------------------------


def new_nonce() -> str:
    """A fresh idempotency nonce for one review: every submit of that page is one payment."""
    return secrets.token_urlsafe(NONCE_BYTES)


def is_nonce(nonce: str | None) -> bool:
    return bool(nonce) and NONCE.fullmatch(nonce or "") is not None


def link_idempotency_key(link_public_id: str, nonce: str | None) -> str | None:
    """The key of a client link's payment for a submitted nonce, or None if it is malformed.

    The key is scoped to the link, so a nonce copied from another client's page can never
    name (or reveal) their payment.
    """
    return f"web:{link_public_id}:{nonce}" if is_nonce(nonce) else None


def public_idempotency_key(firm_id: int, nonce: str | None) -> str | None:
    """The key of a public pay page's payment for a submitted nonce, or None if malformed."""
    return f"public:{firm_id}:{nonce}" if is_nonce(nonce) else None


# -- what the payer agrees to, and what the browser needs ---------------------------------------


def mandate_text(firm: Firm, total_minor: int, currency: str, locale: str) -> str:
    """The bank debit authorization the payer accepts, in their language, saying how to reach
    the firm (its phone and email, when it gave them) to cancel."""
    amount = format_money(total_minor, currency, locale)
    reach = contact_of(firm).reach()
    if reach:
        return _(
            "I authorize %(firm)s to debit the bank account entered on this page once, for "
            "%(amount)s, to pay the invoices and trust deposits listed above. I understand that "
            "the debit takes a few business days to clear, and that I can cancel this "
            "authorization by contacting %(firm)s (%(contact)s) before the debit is made.",
            firm=firm.name,
            amount=amount,
            contact=reach,
        )
    return _(
        "I authorize %(firm)s to debit the bank account entered on this page once, for "
        "%(amount)s, to pay the invoices and trust deposits listed above. I understand that "
        "the debit takes a few business days to clear, and that I can cancel this "
        "authorization by contacting %(firm)s before the debit is made.",
        firm=firm.name,
        amount=amount,
    )


def publishable_key(account: MerchantAccount) -> str:
    """The key the processor's script needs in the browser to take details for `account`
    ("" for the sandbox, whose form needs none)."""
    return gateways.for_account(account).publishable_key()
