"""Money parsing and display: exact, locale-aware, and never through a float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import format_currency

from portal.money import MAX_MINOR, Money, MoneyError, format_money, parse_money, to_plain


@pytest.mark.parametrize(
    ("minor", "currency", "locale", "expected"),
    [
        (125000, "USD", "en_US", "$1,250.00"),
        (125000, "USD", "es_US", "$1,250.00"),
        (-5, "USD", "en_US", "-$0.05"),
        (1000, "JPY", "en_US", "¥1,000"),
        (123456789, "EUR", "de_DE", "1.234.567,89\xa0€"),
        (123456789, "CAD", "fr_CA", "1\xa0234\xa0567,89\xa0$"),
        (123456, "CAD", "fr_CA", "1\xa0234,56\xa0$"),
        (123456, "USD", "fr_CA", "1\xa0234,56\xa0$\xa0US"),
        (0, "USD", "en_US", "$0.00"),
    ],
)
def test_format_money(minor: int, currency: str, locale: str, expected: str) -> None:
    assert format_money(minor, currency, locale) == expected


@pytest.mark.parametrize("locale", ["en_US", "es_US", "fr_CA", "de_DE", "ja_JP", "ar_EG"])
@pytest.mark.parametrize("currency", ["USD", "EUR", "JPY", "KWD"])
def test_cached_formatter_matches_babel(locale: str, currency: str) -> None:
    for minor in (0, 7, -1999, 123456789, MAX_MINOR):
        precision = {"JPY": 0, "KWD": 3}.get(currency, 2)
        expected = format_currency(Decimal(minor).scaleb(-precision), currency, locale=locale)
        assert format_money(minor, currency, locale) == expected


def test_unknown_locale_falls_back_to_english() -> None:
    assert format_money(100, "USD", "xx_YY") == "$1.00"


@pytest.mark.parametrize(
    ("text", "currency", "locale", "expected"),
    [
        ("1250", "USD", "en_US", 125000),
        ("1,250.50", "USD", "en_US", 125050),
        ("1250.5", "USD", "en_US", 125050),
        ("$1,250.50", "USD", "en_US", 125050),
        (" 99 ", "USD", "es_US", 9900),
        ("1.250,50", "EUR", "de_DE", 125050),
        ("1250,50", "EUR", "de_DE", 125050),
        ("1 250,50", "CAD", "fr_CA", 125050),
        ("1\xa0250,50", "CAD", "fr_CA", 125050),
        ("1\u202f250,50", "CAD", "fr_CA", 125050),
        ("1\u202f250,50", "EUR", "fr_FR", 125050),
        ("1 250,50", "EUR", "fr_FR", 125050),
        ("1250,5", "CAD", "fr_CA", 125050),
        ("1\xa0234,56\xa0$\xa0US", "USD", "fr_CA", 123456),
        ("1 234,56 $ US", "USD", "fr_CA", 123456),
        ("1000", "JPY", "en_US", 1000),
        ("0.01", "USD", "en_US", 1),
    ],
)
def test_parse_money(text: str, currency: str, locale: str, expected: int) -> None:
    assert parse_money(text, currency, locale) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter an amount."),
        ("abc", "as a number"),
        ("1e3", "as a number"),
        ("NaN", "as a number"),
        ("Infinity", "as a number"),
        ("10.005", "at most 2 decimal places"),
        ("-1", "cannot be negative"),
        ("0", "more than zero"),
        ("0.00", "more than zero"),
        ("1,2,3.4.5", "as a number"),
        ("1000000000000", "too large"),
    ],
)
def test_parse_money_rejects(text: str, message: str) -> None:
    with pytest.raises(MoneyError, match=message):
        parse_money(text, "USD", "en_US")


def test_parse_whole_currency_refuses_decimals() -> None:
    with pytest.raises(MoneyError, match="whole amounts"):
        parse_money("10.5", "JPY", "en_US")


def test_parse_allows_zero_and_negative_when_asked() -> None:
    assert parse_money("0", "USD", allow_zero=True) == 0
    assert parse_money("-12.30", "USD", allow_negative=True) == -1230


def test_money_value_object_is_exact() -> None:
    total = Money(10, "USD") + Money(20, "USD") - Money(5, "USD")
    assert total == Money(25, "USD")
    with pytest.raises(MoneyError):
        Money(1, "USD") + Money(1, "EUR")
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(1, "usd")


def test_to_plain() -> None:
    assert to_plain(125050, "USD") == "1250.50"
    assert to_plain(5, "JPY") == "5"


@pytest.mark.parametrize(
    "text",
    [
        "--10",
        "-\u221210",
        "+-10",
        "1_0",
        "1_000.00",
        "\u0661\u0662",  # Arabic-Indic digits
        "\u06f1\u06f2",  # Extended Arabic-Indic digits
        "\uff11\uff12",  # fullwidth digits
        "\u0967\u0968",  # Devanagari digits
        "²",
        "1²",
        "¹²",
        "1$0",
        "10#",
        "#10",
        "10%",
        "10-",
        "(10)",
        "0x10",
        "10\x00",
        "\x0010",
        "1 0",
        "10.00.",
        ".",
    ],
)
def test_parse_money_is_strict_about_what_is_a_number(text: str) -> None:
    with pytest.raises(MoneyError) as refused:
        parse_money(text, "USD", "en_US", allow_negative=True)
    assert refused.value.code == "amount_not_a_number"


@pytest.mark.parametrize(
    ("text", "currency", "locale", "expected"),
    [
        ("$ 1,250.50", "USD", "en_US", 125050),
        ("1,250.50 USD", "USD", "en_US", 125050),
        ("USD 1250", "USD", "en_US", 125000),
        ("+10", "USD", "en_US", 1000),
        ("1.250,50 €", "EUR", "de_DE", 125050),
        ("€1.250,50", "EUR", "de_DE", 125050),
        ("1 250,50 $", "CAD", "fr_CA", 125050),
        ("1250.50", "EUR", "de_DE", 125050),
        ("1'250.50", "CHF", "de_CH", 125050),
        ("1250.", "USD", "en_US", 125000),
        (".5", "USD", "en_US", 50),
        ("1,000", "JPY", "ja_JP", 1000),
    ],
)
def test_every_locale_form_still_reads(
    text: str, currency: str, locale: str, expected: int
) -> None:
    assert parse_money(text, currency, locale) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [("-10", -1000), ("-$10", -1000), ("$-10", -1000), ("- 10", -1000)]
)
def test_one_sign_before_or_after_the_symbol(text: str, expected: int) -> None:
    assert parse_money(text, "USD", "en_US", allow_negative=True) == expected


def test_the_locales_own_minus_sign_reads() -> None:
    assert parse_money("\u221210", "SEK", "sv_SE", allow_negative=True) == -1000
