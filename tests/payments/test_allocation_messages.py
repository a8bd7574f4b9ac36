"""Planning's refusals carry a code, a field and data; the pay pages word them by code.

Every way `allocation.plan` / `auto_apply` (and a trust request's `hold`) refuses a basket
gives one problem: a stable code, the form field, params as data (an invoice number, amounts
in minor units with their currency, never preformatted text) and an English `detail` for the
API. In English the pages say exactly that detail; in Spanish the catalog's words, with the
amounts written for the payer's locale.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from portal.errors import AllocationError, api_errors
from portal.money import MAX_MINOR
from portal.payments.allocation import (
    Basket,
    PayableInvoice,
    PayableRequest,
    Rules,
    auto_apply,
    plan,
)
from portal.payments.checkout_forms import MESSAGES, FieldErrors
from portal.templating import locale_scope

BASE = dt.date(2026, 1, 1)
INVOICE = PayableInvoice(1, 1, "INV-1042", BASE, BASE, "USD", 150_000)
EURO_INVOICE = PayableInvoice(2, 2, "INV-7", BASE, BASE, "EUR", 10_000)
REQUEST = PayableRequest(5, 1, "USD", 100_000)


def _plan(basket: Basket, rules: Rules | None = None) -> None:
    plan(
        basket,
        invoices={1: INVOICE, 2: EURO_INVOICE},
        trust_matters={1: "USD", 2: "EUR", 3: "USD"},
        rules=rules or Rules(),
        requests={5: REQUEST},
    )


CASES: list[tuple[Callable[[], Any], str, str, dict[str, Any], str, str]] = [
    # (refused call, code, field, params, English, Spanish)
    (
        lambda: auto_apply([INVOICE], 0),
        "total_not_positive",
        "total",
        {},
        "Enter an amount above zero.",
        "Ingrese un monto mayor que cero.",
    ),
    (
        lambda: auto_apply([INVOICE], 150_001),
        "total_over_due",
        "total",
        {"due_minor": 150_000, "currency": "USD"},
        "That is more than the $1,500.00 due in all.",
        "Eso es más que los $1,500.00 que se deben en total.",
    ),
    (
        lambda: _plan(Basket({9: 100})),
        "invoice_not_payable",
        "invoice-9",
        {},
        "This invoice is not open for payment.",
        "Esta factura no está disponible para pago.",
    ),
    (
        lambda: _plan(Basket({1: 0})),
        "invoice_amount_not_positive",
        "invoice-1",
        {"number": "INV-1042"},
        "Enter an amount above zero for invoice INV-1042.",
        "Ingrese un monto mayor que cero para la factura INV-1042.",
    ),
    (
        lambda: _plan(Basket({1: 150_001})),
        "invoice_over_payable",
        "invoice-1",
        {"number": "INV-1042", "left_minor": 150_000, "currency": "USD"},
        "Invoice INV-1042 has $1,500.00 left to pay.",
        "A la factura INV-1042 le quedan $1,500.00 por pagar.",
    ),
    (
        lambda: _plan(Basket({1: 5_000}), Rules(allow_partial=False)),
        "invoice_partial_not_allowed",
        "invoice-1",
        {"number": "INV-1042"},
        "Invoice INV-1042 must be paid in full.",
        "La factura INV-1042 debe pagarse en su totalidad.",
    ),
    (
        lambda: _plan(Basket({1: 50})),
        "invoice_below_minimum",
        "invoice-1",
        {"minimum_minor": 100, "currency": "USD"},
        "The smallest payment is $1.00.",
        "El pago mínimo es de $1.00.",
    ),
    (
        lambda: _plan(Basket(trust_deposits={7: 500})),
        "deposit_not_accepted",
        "trust-7",
        {},
        "This matter does not take trust deposits here.",
        "Este asunto no admite depósitos en fideicomiso aquí.",
    ),
    (
        lambda: _plan(Basket(trust_deposits={1: 0})),
        "deposit_not_positive",
        "trust-1",
        {},
        "Enter a deposit above zero.",
        "Ingrese un depósito mayor que cero.",
    ),
    (
        lambda: _plan(Basket(trust_deposits={1: 50})),
        "deposit_below_minimum",
        "trust-1",
        {"minimum_minor": 100, "currency": "USD"},
        "The smallest deposit is $1.00.",
        "El depósito mínimo es de $1.00.",
    ),
    (
        lambda: _plan(Basket(trust_deposits={1: MAX_MINOR + 1})),
        "deposit_too_large",
        "trust-1",
        {},
        "That deposit is too large.",
        "Ese depósito es demasiado alto.",
    ),
    (
        lambda: _plan(Basket(trust_requests={6: 1_000})),
        "request_not_payable",
        "request-6",
        {},
        "This trust request is not open for payment.",
        "Esta solicitud de fondos fiduciarios no está disponible para pago.",
    ),
    (
        lambda: _plan(Basket(trust_requests={5: 0})),
        "request_amount_not_positive",
        "request-5",
        {},
        "Enter an amount above zero for this trust request.",
        "Ingrese un monto mayor que cero para esta solicitud de fondos fiduciarios.",
    ),
    (
        lambda: _plan(Basket(trust_requests={5: 100_001})),
        "request_over_payable",
        "request-5",
        {"left_minor": 100_000, "currency": "USD"},
        "This trust request has $1,000.00 left to pay.",
        "A esta solicitud de fondos fiduciarios le quedan $1,000.00 por pagar.",
    ),
    (
        lambda: _plan(Basket(trust_requests={5: 50})),
        "deposit_below_minimum",
        "request-5",
        {"minimum_minor": 100, "currency": "USD"},
        "The smallest deposit is $1.00.",
        "El depósito mínimo es de $1.00.",
    ),
    (
        lambda: _plan(Basket()),
        "basket_empty",
        "basket",
        {},
        "Choose at least one invoice or enter a trust deposit.",
        "Elija al menos una factura o ingrese un depósito en fideicomiso.",
    ),
    (
        lambda: _plan(Basket({1: 5_000, 2: 5_000})),
        "basket_mixed_currencies",
        "basket",
        {},
        "Pay amounts in one currency at a time.",
        "Pague montos de una sola moneda a la vez.",
    ),
    (
        lambda: _plan(Basket(trust_deposits={1: MAX_MINOR, 3: MAX_MINOR})),
        "total_too_large",
        "basket",
        {},
        "That total is too large.",
        "Ese total es demasiado alto.",
    ),
]


@pytest.mark.parametrize(
    ("refused", "code", "field", "params", "english", "spanish"),
    CASES,
    ids=[f"{case[1]}:{case[2]}" for case in CASES],
)
def test_each_refusal_is_one_coded_problem_worded_in_the_payers_language(
    app: Flask,
    refused: Callable[[], Any],
    code: str,
    field: str,
    params: dict[str, Any],
    english: str,
    spanish: str,
) -> None:
    with pytest.raises(AllocationError) as caught:
        refused()
    (problem,) = caught.value.errors
    assert problem == {"field": field, "code": code, "params": params, "detail": english}
    # the API says the English detail, whatever locale the request asked for
    with (
        app.test_request_context(headers={"Accept-Language": "es"}),
        locale_scope("es_US"),
        pytest.raises(AllocationError) as again,
    ):
        refused()
    assert api_errors(again.value.errors) == [{"pointer": f"/{field}", "detail": english}]
    # the pages: exactly that English, and the catalog's Spanish
    for locale, expected in (("en_US", english), ("es_US", spanish)):
        errors = FieldErrors()
        with app.test_request_context(), locale_scope(locale):
            errors.extend(caught.value.errors)
        assert errors == {field: [expected]}, locale


def test_amounts_are_written_for_the_payers_locale(app: Flask) -> None:
    with pytest.raises(AllocationError) as caught:
        _plan(Basket({2: 10_001}))
    (problem,) = caught.value.errors
    assert problem["params"] == {"number": "INV-7", "left_minor": 10_000, "currency": "EUR"}
    assert problem["detail"] == "Invoice INV-7 has €100.00 left to pay."
    with app.test_request_context(), locale_scope("es_US"):  # CLDR es_US writes "EUR100.00"
        worded = MESSAGES[problem["code"]](problem["params"])
    assert worded == "A la factura INV-7 le quedan EUR100.00 por pagar."


def test_every_code_planning_gives_has_a_message() -> None:
    assert {case[1] for case in CASES} <= set(MESSAGES)
