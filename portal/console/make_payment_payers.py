"""Make a payment (console), step 4a's saved payers: the client's payers and saved methods
as the form offers them, and the consent words staff read to the payer on the phone.

The words are built here once, in the page's language and with the amount as the page shows
it; the form posts only which words were agreed to, and the view builds them again from the
same checked plan, so the consent recorded is what was on the screen. Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import gettext

from portal.firms.models import MerchantAccountKind
from portal.i18n import current_locale
from portal.money import format_money
from portal.payers import services as payers
from portal.payers.models import ConsentScope, SavedMethod
from portal.payments.instruments import instrument_text

#: The form's radio naming the payer and method ("<payer id>:<method id>"), or "new".
CHOICE = "payer_choice"
NEW = "new"


@dataclass(frozen=True)
class MethodChoice:
    value: str
    text: str
    expiry: str | None
    expiring: bool
    expired: bool
    #: Kept with consent to future payments the firm initiates: no phone consent needed.
    future: bool


@dataclass(frozen=True)
class PayerChoice:
    name: str
    email: str | None
    methods: tuple[MethodChoice, ...]


def _expiry(method: SavedMethod) -> str | None:
    if method.exp_month is None or method.exp_year is None:
        return None
    return f"{method.exp_month:02d}/{method.exp_year}"


def payer_choices(firm_id: int, client_id: int, today: dt.date) -> list[PayerChoice]:
    """The client's payers with their saved methods (none removed); payers without any are
    left out. An expired card is listed but cannot be chosen."""
    found = []
    for payer in payers.list_payers(firm_id, client_id):
        methods = tuple(
            MethodChoice(
                value=f"{payer.public_id}:{method.public_id}",
                text=instrument_text(method.brand, method.last4),
                expiry=_expiry(method),
                expiring=payers.is_expiring(method, today),
                expired=(last := payers.last_valid_day(method)) is not None and last < today,
                future=payers.covering_consent(method, ConsentScope.FUTURE_FIRM_INITIATED)
                is not None,
            )
            for method in payer.methods
            if method.removed_at is None
        )
        if methods:
            found.append(PayerChoice(name=payer.name, email=payer.email, methods=methods))
    return found


def _total(total_minor: int, currency: str) -> str:
    return format_money(total_minor, currency, current_locale())


def phone_words(firm_name: str, total_minor: int, currency: str) -> str:
    """What staff read before charging a method kept for "this payment only"."""
    return gettext(
        "I authorize %(firm)s to charge %(total)s to my saved payment method now, for this "
        "payment only.",
        firm=firm_name,
        total=_total(total_minor, currency),
    )


def save_words(scope: ConsentScope, firm_name: str, total_minor: int, currency: str) -> str:
    """What staff read before keeping a new payer's method, for each scope."""
    total = _total(total_minor, currency)
    if scope is ConsentScope.FUTURE_FIRM_INITIATED:
        return gettext(
            "I authorize %(firm)s to keep this payment method on file, to charge %(total)s to "
            "it now, and to charge it for future payments %(firm)s initiates until I ask for it "
            "to be removed.",
            firm=firm_name,
            total=total,
        )
    return gettext(
        "I authorize %(firm)s to keep this payment method on file and to charge %(total)s to "
        "it now, for this payment only.",
        firm=firm_name,
        total=total,
    )


def all_words(firm_name: str, total_minor: int, currency: str) -> dict[str, str]:
    """The page's consent words by the form's value: "phone" and each scope."""
    words = {"phone": phone_words(firm_name, total_minor, currency)}
    for scope in ConsentScope:
        words[scope.value] = save_words(scope, firm_name, total_minor, currency)
    return words


def not_kept_there(kinds: Sequence[MerchantAccountKind]) -> str:
    """Why a saved method cannot pay this plan: it is kept at another Stripe account."""
    if MerchantAccountKind.TRUST in kinds:
        return gettext(
            "This payment method is kept at the firm's operating account only, and this "
            "payment goes to the trust account too. Take the trust deposit as a separate "
            "payment with another method, or send it for payment."
        )
    return gettext(
        "This payment method is kept at the firm's trust account only, and this payment goes "
        "to the operating account too. Take the invoices as a separate payment with another "
        "method, or send it for payment."
    )
