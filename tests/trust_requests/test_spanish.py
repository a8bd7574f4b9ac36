"""A trust request's refusals on the client's pages in Spanish (they were English only), and
the same refusals in English for the API.

The services give a code and data; the pay pages word it in the client's language.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.errors import AllocationError, api_errors
from portal.payments.checkout_forms import FieldErrors
from portal.payments.models import Payment
from portal.templating import locale_scope
from portal.trust_requests import holds
from portal.trust_requests.models import TrustRequest
from tests.payments.test_views import Books, Browser, text_of
from tests.trust_requests.conftest import make_request


@pytest.fixture
def spanish(client: FlaskClient, books: Books, session) -> Browser:
    """The pay pages as a client whose record says Spanish sees them."""
    books.client.locale = "es_US"
    session.flush()
    browser = Browser(client)
    browser.open(books.link)
    return browser


def test_more_than_is_left_is_refused_in_spanish(spanish: Browser, books: Books, session) -> None:
    request = make_request(books.lawsuit, 100_000)
    basket = spanish.basket(f"/pay?request={request.id}")
    basket.set(f"request-{request.id}", "1000.01")
    refused = basket.submit()
    assert refused.status_code == 422
    text = text_of(refused.text)
    assert "A esta solicitud de fondos fiduciarios le quedan $1,000.00 por pagar." in text
    assert "left to pay" not in text
    assert session.scalars(select(Payment)).first() is None


def test_less_than_the_smallest_deposit_is_refused_in_spanish(
    spanish: Browser, books: Books, app: Flask
) -> None:
    assert app.config["PAYMENTS_MINIMUM_MINOR"] == 100
    request = make_request(books.lawsuit, 100_000)
    basket = spanish.basket(f"/pay?request={request.id}")
    basket.set(f"request-{request.id}", "0.50")
    refused = basket.submit()
    assert refused.status_code == 422
    assert "El depósito mínimo es de $1.00." in text_of(refused.text)


def test_a_request_taken_by_another_payment_is_refused_with_a_code(
    app: Flask, books: Books, session
) -> None:
    request = make_request(books.lawsuit, 100_000)
    holds.hold(request.id, 60_000)  # another tab's payment holds most of it
    with pytest.raises(AllocationError) as caught:
        holds.hold(request.id, 50_000)
    assert session.get(TrustRequest, request.id).reserved_minor == 60_000
    refused = caught.value
    assert refused.detail == "A trust request was paid or changed while you were paying it."
    field = f"request-{request.id}"
    detail = "This trust request was just paid or changed. Please review and try again."
    assert refused.errors == [
        {"field": field, "code": "request_changed", "params": {}, "detail": detail}
    ]
    assert api_errors(refused.errors) == [{"pointer": f"/{field}", "detail": detail}]
    for locale, expected in (
        ("en_US", detail),
        (
            "es_US",
            "Esta solicitud de fondos fiduciarios se acaba de pagar o de modificar. "
            "Revísela y vuelva a intentarlo.",
        ),
    ):
        errors = FieldErrors()
        with app.test_request_context(), locale_scope(locale):
            errors.extend(refused.errors)
        assert errors == {field: [expected]}
