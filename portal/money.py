"""Money as an integer of minor units plus an ISO 4217 currency; parsing and display via Babel.

No float ever touches an amount: text is parsed by Babel into a Decimal, checked against the
currency's precision, then scaled to an int. Display goes the other way through a per
(locale, currency) Babel pattern compiled once and cached, because a page may format hundreds
of amounts and Babel's general `format_currency` redoes all lookups on every call.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    NumberFormatError,
    get_currency_precision,
    get_currency_symbol,
    list_currencies,
    parse_decimal,
)

#: The largest amount the portal accepts anywhere, in minor units (999,999,999.99 in USD).
MAX_MINOR = 99_999_999_999
_NOT_A_NUMBER = "Enter the amount as a number, for example 1250.00."


class MoneyError(ValueError):
    """Text or a number that is not an acceptable amount.

    `code` says why in a stable word the faces translate (portal.payments.checkout_forms
    .money_message for the pay pages), `params` carries what the message needs; the message
    itself is English, for logs and the API.
    """

    def __init__(self, message: str, *, code: str = "amount_invalid", **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: `minor` units (cents for USD) of `currency`."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError("Money.minor must be an int of minor units")
        if not is_currency(self.currency):
            raise MoneyError(f"unknown currency {self.currency!r}", code="currency_unknown")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor - other.minor, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(
                f"cannot combine {self.currency} with {other.currency}", code="currency_mismatch"
            )

    def format(self, locale: str) -> str:
        return format_money(self.minor, self.currency, locale)


@cache
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency(code: object) -> bool:
    """Whether `code` is an upper-case ISO 4217 code that Babel knows."""
    return isinstance(code, str) and code.isupper() and code in _known_currencies()


@cache
def precision(currency: str) -> int:
    """Number of decimal places of `currency`'s minor unit (2 for USD, 0 for JPY)."""
    return get_currency_precision(currency)


def to_decimal(minor: int, currency: str) -> Decimal:
    """Exact major-unit value of `minor`, for display and plain-text inputs."""
    return Decimal(minor).scaleb(-precision(currency))


def to_plain(minor: int, currency: str) -> str:
    """Locale-free text for an input's value attribute, e.g. 1250.00."""
    return f"{to_decimal(minor, currency):f}"


@lru_cache(maxsize=512)
def _locale(locale: str) -> Locale:
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en_US")


@lru_cache(maxsize=512)
def _formatter(locale: str, currency: str) -> Callable[[Decimal], str]:
    """Compile Babel's currency pattern for (locale, currency) once.

    The symbol is written into the pattern's prefix and suffix and the precision fixed to
    the currency's, which gives the same text as `babel.numbers.format_currency` (a test
    checks this) at a third of the cost.
    """
    loc = _locale(locale)
    pattern = copy.copy(loc.currency_formats["standard"])
    symbol = get_currency_symbol(currency, loc)
    digits = precision(currency)
    pattern.prefix = tuple(part.replace("\xa4", symbol) for part in pattern.prefix)
    pattern.suffix = tuple(part.replace("\xa4", symbol) for part in pattern.suffix)
    pattern.frac_prec = (digits, digits)

    def render(value: Decimal) -> str:
        return pattern.apply(value, loc, currency_digits=False)

    return render


def format_money(minor: int, currency: str, locale: str = "en_US") -> str:
    """Display `minor` units of `currency` for `locale`, e.g. 125000 USD → "$1,250.00"."""
    return _formatter(locale, currency)(to_decimal(minor, currency))


def parse_money(
    text: str,
    currency: str,
    locale: str = "en_US",
    *,
    allow_zero: bool = False,
    allow_negative: bool = False,
) -> int:
    """Parse what a person typed (in their locale) into minor units, or raise MoneyError.

    "1,250.50" in en_US and "1.250,50" in de_DE both give 125050 for USD/EUR. A currency
    symbol or code before or after the number, spaces around it and one sign are tolerated;
    the number itself is ASCII digits with the locale's grouping and decimal separators (or a
    plain "."). More decimals than the currency has, exponents, NaN and infinities, a second
    sign ("--10"), underscores ("1_0"), other scripts' digits (Arabic-Indic, fullwidth, "²")
    and anything else around the number are refused.
    """
    loc = _locale(locale)
    symbols = loc.number_symbols.get("latn", {})
    group = symbols.get("group", ",")
    decimal = symbols.get("decimal", ".")
    cleaned = _SPACES_AROUND.sub("", text or "")
    cleaned, negative = _take_sign(cleaned, loc)
    cleaned = _without_currency(cleaned, currency, loc)
    if negative is None:
        cleaned, negative = _take_sign(cleaned, loc)
    if group in (" ", "\xa0", "\u202f"):
        # People type a plain space where the locale groups with a (narrow) no-break space.
        cleaned = re.sub(r"[ \xa0\u202f]", group, cleaned)
    if not cleaned:
        raise MoneyError("Enter an amount.", code="amount_missing")
    allowed = set(_ASCII_DIGITS) | {group, decimal, "."}
    if not set(cleaned) <= allowed or not any(ch in _ASCII_DIGITS for ch in cleaned):
        raise MoneyError(_NOT_A_NUMBER, code="amount_not_a_number")
    value = _parse_decimal(cleaned, loc)
    digits = precision(currency)
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or value.is_signed():
        raise MoneyError(_NOT_A_NUMBER, code="amount_not_a_number")
    if -exponent > digits:
        raise MoneyError(
            f"Use at most {digits} decimal places." if digits else "Use whole amounts only.",
            code="amount_too_precise",
            places=digits,
        )
    minor = int(value.scaleb(digits))
    if negative:
        minor = -minor
    return check_minor(minor, allow_zero=allow_zero, allow_negative=allow_negative)


_ASCII_DIGITS = "0123456789"
_SPACE = " \xa0\u202f"
_SPACES_AROUND = re.compile(f"^[\\s{_SPACE}]+|[\\s{_SPACE}]+$")
#: Bidi marks some locales write around their signs (ar_EG's minus is LRM + "-").
_BIDI_MARKS = "\u200e\u200f\u061c"


def _take_sign(text: str, loc: Locale) -> tuple[str, bool | None]:
    """`text` without one leading sign, and whether it was a minus (None without a sign)."""
    symbols = loc.number_symbols.get("latn", {})
    minus = {"-", symbols.get("minusSign", "-").strip(_BIDI_MARKS)}
    plus = {"+", symbols.get("plusSign", "+").strip(_BIDI_MARKS)}
    unmarked = text.lstrip(_BIDI_MARKS)
    head = unmarked[:1]
    if head in minus or head in plus:
        return unmarked[1:].strip(_SPACE), head in minus
    return text, None


def _without_currency(text: str, currency: str, loc: Locale) -> str:
    """`text` without the currency's symbol or code before or after the number."""
    # fr_CA writes USD as "$\xa0US"; people type a plain space, so spaces compare as one.
    text = re.sub(f"[{_SPACE}]", " ", text)
    symbols = {get_currency_symbol(currency, loc), currency, "$"}
    tokens = sorted({re.sub(f"[{_SPACE}]", " ", s) for s in symbols}, key=len, reverse=True)
    for token in tokens:
        if token and text.startswith(token):
            text = text[len(token) :].strip(_SPACE)
            break
    for token in tokens:
        if token and text.endswith(token):
            text = text[: -len(token)].strip(_SPACE)
            break
    return text


def _parse_decimal(cleaned: str, loc: Locale) -> Decimal:
    # Strict mode first (grouping must be where the locale puts it); then a plain
    # "1250.50" with a dot, which people type whatever their locale.
    try:
        return parse_decimal(cleaned, loc, strict=True)
    except NumberFormatError:
        pass
    if cleaned.count(".") <= 1 and cleaned.replace(".", "").strip(_ASCII_DIGITS) == "":
        try:
            return Decimal(cleaned)
        except InvalidOperation:
            pass
    raise MoneyError(_NOT_A_NUMBER, code="amount_not_a_number")


def check_minor(minor: int, *, allow_zero: bool = False, allow_negative: bool = False) -> int:
    """Check an integer amount against the portal-wide bounds and sign rules."""
    if not allow_negative and minor < 0:
        raise MoneyError("The amount cannot be negative.", code="amount_negative")
    if not allow_zero and minor == 0:
        raise MoneyError("The amount must be more than zero.", code="amount_zero")
    if abs(minor) > MAX_MINOR:
        raise MoneyError("The amount is too large.", code="amount_too_large", max=MAX_MINOR)
    return minor
