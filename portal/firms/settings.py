"""The firm's settings: posting, alerts, time zone, identity and link email words.

`update_firm_settings` is the one use case that changes them (the API's PATCH /firm calls it;
the staff console will). Each setting has one rule here (`normal_setting`), which the API's
model also runs so that its OpenAPI document and its 422s say the same thing. A change is
all or nothing: every field is checked before any is stored, and each field that really
changes appends one audit event in the same transaction, so sending the same change twice
changes nothing and records nothing the second time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from email_validator import EmailNotValidError, validate_email
from flask import current_app

from portal import clock
from portal.audit.services import Actor
from portal.db import db
from portal.errors import ValidationFailed, ValidationProblem
from portal.firms.branding import checked_host
from portal.firms.models import AutoApplyOrder, Firm
from portal.firms.services import firm_by_id, firm_currency, record_firm_changes
from portal.money import MAX_MINOR
from portal.text import text_problem

#: Longest A/R message (the column's size).
MAX_AR_MESSAGE = 200
#: Longest email address (RFC 5321's path limit).
MAX_EMAIL = 254
#: Longest phone number, extension included.
MAX_PHONE = 40
#: Longest postal address, and most lines in it.
MAX_ADDRESS = 500
MAX_ADDRESS_LINES = 8
#: Longest website address.
MAX_WEBSITE = 300
#: Longest link email message and signature.
MAX_EMAIL_MESSAGE = 2000
MAX_EMAIL_SIGNATURE = 1000

#: A phone number: an optional leading +, digits and separators, an optional extension.
_PHONE = re.compile(
    r"(?P<number>\+?[0-9 ()./-]+?)(?: ?(?:ext\.?|x) ?(?P<extension>[0-9]{1,6}))?", re.IGNORECASE
)

#: The code of every problem these rules find.
CODE = "setting_invalid"


class SettingProblem(ValueError):
    """What is wrong with a setting's value, as a predicate after its name ("must be ...")."""


def _text(value: object, *, max_length: int, multiline: bool = False) -> str | None:
    """Free text by portal.text's rule, stripped; None (or blank) is None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SettingProblem("must be a string")
    problem = text_problem(value, multiline=multiline)
    if problem is not None:
        raise SettingProblem(problem)
    text = value.replace("\r\n", "\n").strip()
    if len(text) > max_length:
        raise SettingProblem(f"must be at most {max_length} characters")
    return text or None


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise SettingProblem("must be true or false")
    return value


def _auto_apply_order(value: object) -> AutoApplyOrder:
    try:
        return AutoApplyOrder(str(value) if isinstance(value, str) else "")
    except ValueError:
        names = ", ".join(order.value for order in AutoApplyOrder)
        raise SettingProblem(f"must be one of {names}") from None


def _ar_message(value: object) -> str | None:
    return _text(value, max_length=MAX_AR_MESSAGE)


def _email(value: object) -> str | None:
    text = _text(value, max_length=MAX_EMAIL)
    if text is None:
        return None
    try:
        return str(validate_email(text, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise SettingProblem(f"must be an email address ({exc})") from None


def _time_zone(value: object) -> str | None:
    text = _text(value, max_length=64)
    if text is None:
        return None
    try:
        return clock.zone_named(text).key
    except ValueError:
        raise SettingProblem(
            f"must be an IANA time zone such as America/New_York, not {text!r}"
        ) from None


def _phone(value: object) -> str | None:
    text = _text(value, max_length=MAX_PHONE)
    if text is None:
        return None
    match = _PHONE.fullmatch(" ".join(text.split()))
    if match is None or not 3 <= sum(ch.isdigit() for ch in match["number"]) <= 20:
        raise SettingProblem(
            "must be a phone number: digits, spaces, + ( ) - . / and an optional "
            '"ext. 123", such as +1 (212) 555-0100'
        )
    extension = f" ext. {match['extension']}" if match["extension"] else ""
    return match["number"].strip() + extension


def _address(value: object) -> str | None:
    text = _text(value, max_length=MAX_ADDRESS, multiline=True)
    if text is None:
        return None
    if "\t" in text:
        raise SettingProblem("must not contain tabs (write each part on its own line)")
    lines = [line.strip() for line in text.split("\n")]
    if len(lines) > MAX_ADDRESS_LINES:
        raise SettingProblem(f"must have at most {MAX_ADDRESS_LINES} lines")
    return "\n".join(lines)


def _website(value: object) -> str | None:
    text = _text(value, max_length=MAX_WEBSITE)
    if text is None:
        return None
    shape = "must be a web address such as https://www.example-firm.com"
    if any(ch.isspace() for ch in text):
        raise SettingProblem(shape)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise SettingProblem(shape)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise SettingProblem("must not carry a user name or password")
    try:
        host, port = checked_host(parts._replace(scheme=scheme))
    except ValueError as exc:
        raise SettingProblem(str(exc)) from None
    return urlunsplit((scheme, host + port, parts.path or "/", parts.query, ""))


def _minor_amount(value: object) -> int | None:
    """An amount in minor units: a whole number from 0 up; None (never) stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingProblem("must be a whole number of minor units (cents), or null")
    if value < 0:
        raise SettingProblem("must be zero or more")
    if value > MAX_MINOR:
        raise SettingProblem(f"must be at most {MAX_MINOR}")
    return value


#: Every setting `update_firm_settings` takes, with its rule: the value as stored, or
#: SettingProblem. None clears a nullable setting (its default then applies).
RULES: dict[str, Callable[[object], Any]] = {
    "auto_post": _flag,
    "use_posted_date": _flag,
    "ar_message": _ar_message,
    "auto_apply_order": _auto_apply_order,
    "notify_email": _email,
    "time_zone": _time_zone,
    "contact_email": _email,
    "contact_phone": _phone,
    "postal_address": _address,
    "website": _website,
    "email_message": lambda value: _text(value, max_length=MAX_EMAIL_MESSAGE, multiline=True),
    "email_signature": lambda value: _text(value, max_length=MAX_EMAIL_SIGNATURE, multiline=True),
    "refund_reauth_above_minor": _minor_amount,
}


def normal_setting(name: str, value: object) -> Any:
    """`value` as the setting `name` stores it, or SettingProblem saying what is wrong."""
    return RULES[name](value)


def _checked(changes: Mapping[str, object]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    problems = []
    for name, value in changes.items():
        if name not in RULES:
            problems.append(
                ValidationProblem(CODE, f"/{name}", f"{name} is not a setting of the firm")
            )
            continue
        try:
            values[name] = normal_setting(name, value)
        except SettingProblem as exc:
            problems.append(ValidationProblem(CODE, f"/{name}", f"{name} {exc}"))
    if problems:
        raise ValidationFailed("Some settings are invalid; nothing was saved.", errors=problems)
    return values


def update_firm_settings(
    firm_id: int, changes: Mapping[str, object], actor: Actor, *, reason: str | None = None
) -> Firm:
    """Change the settings named in `changes` and commit; the others stay as they are.

    Every value is checked first (ValidationFailed naming each bad field, nothing saved);
    then each setting whose stored value differs is changed and audited as one
    "firm.updated" event by `actor`, all in one transaction.
    """
    values = _checked(changes)
    firm = firm_by_id(firm_id)
    with db.transaction():
        record_firm_changes(firm, values, actor, reason=reason)
    return firm


def refund_needs_reauth(firm: Firm, amount_minor: int, currency: str) -> bool:
    """Whether refunding `amount_minor` of `currency` asks for the password again.

    Only above the firm's `refund_reauth_above_minor` (never while it is None). The threshold
    is in the firm's currency; a refund in any other currency asks whenever one is set, since
    the two amounts cannot be compared.
    """
    threshold = firm.refund_reauth_above_minor
    if threshold is None:
        return False
    if currency != firm_currency(firm.id):
        return True
    return amount_minor > threshold


def default_ar_message() -> str:
    """The A/R message of a firm with none of its own (WEBHOOK_DEFAULT_AR_MESSAGE)."""
    return str(current_app.config["WEBHOOK_DEFAULT_AR_MESSAGE"])
