"""The pay pages' shared reading: refusals are worded by their code, in the payer's language."""

from __future__ import annotations

import pytest
from flask import Flask

from portal.errors import ValidationFailed, ValidationProblem, api_errors
from portal.money import MoneyError, parse_money
from portal.payments.checkout_forms import (
    FieldErrors,
    link_idempotency_key,
    money_message,
    new_nonce,
    public_idempotency_key,
)
from portal.templating import locale_scope


@pytest.mark.parametrize(
    ("text", "currency", "code", "english", "spanish"),
    [
        ("", "USD", "amount_missing", "Enter an amount.", "Ingrese un monto."),
        ("abc", "USD", "amount_not_a_number", "Enter the amount as a number", None),
        ("10.005", "USD", "amount_too_precise", "Use at most 2 decimal places.", None),
        ("10.5", "JPY", "amount_too_precise", "Use whole amounts only.", None),
        ("-1", "USD", "amount_negative", "The amount cannot be negative.", None),
        ("0", "USD", "amount_zero", "Enter an amount above zero.", None),
        ("1000000000000", "USD", "amount_too_large", "That amount is too large.", None),
    ],
)
def test_a_refused_amount_is_worded_by_its_code(
    app: Flask, text: str, currency: str, code: str, english: str, spanish: str | None
) -> None:
    with pytest.raises(MoneyError) as refused:
        parse_money(text, currency, "en_US")
    assert refused.value.code == code
    with app.test_request_context(), locale_scope("en_US"):
        assert money_message(refused.value).startswith(english)
    with app.test_request_context(), locale_scope("es_US"):
        worded = money_message(refused.value)
    # The Spanish catalog has every one of these: never the English text.
    assert not worded.startswith(english)
    if spanish is not None:
        assert worded == spanish


def test_the_message_does_not_depend_on_the_english_text(app: Flask) -> None:
    reworded = MoneyError("Something else entirely", code="amount_too_large", max=1)
    with app.test_request_context(), locale_scope("en_US"):
        assert money_message(reworded) == "That amount is too large."


def test_field_errors_word_known_codes_and_keep_other_services_text(app: Flask) -> None:
    problem = ValidationProblem("amount_zero", "total", "The amount must be more than zero.")
    refused = ValidationFailed(errors=[problem, {"field": "basket", "detail": "As it was."}])
    errors = FieldErrors()
    with app.test_request_context(), locale_scope("en_US"):
        errors.extend(refused.errors)
    assert errors == {"total": ["Enter an amount above zero."], "basket": ["As it was."]}


def test_the_api_shows_one_shape_whatever_the_service_gave() -> None:
    errors = [
        ValidationProblem("amount_too_large", "/amount", "amount is too large", {"max": 5}),
        {"field": "mandate", "detail": "Accept the authorization to continue."},
        {"pointer": "/currency", "detail": "currency must be USD"},
        {"parameter": "Idempotency-Key", "detail": "Idempotency-Key is required"},
    ]
    assert api_errors(ValidationFailed(errors=errors).errors) == [
        {"pointer": "/amount", "detail": "amount is too large"},
        {"pointer": "/mandate", "detail": "Accept the authorization to continue."},
        {"pointer": "/currency", "detail": "currency must be USD"},
        {"parameter": "Idempotency-Key", "detail": "Idempotency-Key is required"},
    ]


def test_idempotency_keys_need_a_well_formed_nonce() -> None:
    nonce = new_nonce()
    assert link_idempotency_key("L1", nonce) == f"web:L1:{nonce}"
    assert public_idempotency_key(7, nonce) == f"public:7:{nonce}"
    for bad in ("", None, "short", nonce + "x", nonce[:-1] + "!"):
        assert link_idempotency_key("L1", bad) is None
        assert public_idempotency_key(7, bad) is None
