"""Pages in the client's language: which one is chosen, the switcher, and locale formatting.

The locale comes from the switcher (this session), else the client's record, else the
browser's Accept-Language, else DEFAULT_LOCALE; amounts and dates follow it (Babel's CLDR
data for es_US writes dates the Spanish way and amounts as US Spanish speakers do: $1,234.56).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from babel.dates import format_date
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal import clock, i18n
from portal.billing.models import Client, Invoice, Matter
from portal.links.models import Link
from portal.money import format_money
from tests import factories
from tests.payments.test_views import VISA, Browser, choose, location, text_of

#: Days from today to the invoice's due date (the sandbox signs its events with the real
#: clock, so these tests do not freeze it).
DUE_IN = 25


@dataclass
class Books:
    client: Client
    matter: Matter
    invoice: Invoice
    link: Link


@pytest.fixture
def books(session, firm) -> Books:
    """A client with no language on record, owing $1,234.56 on one matter with trust money."""
    person = factories.client(firm, name="Ana Morales", email="ana@example.com", locale=None)
    matter = factories.matter(person, number="2026-014", title="Morales v. Harbor Lines")
    invoice = factories.invoice(
        matter,
        number="INV-2001",
        total_minor=123_456,
        issued_on=clock.today() - dt.timedelta(days=5),
        due_on=clock.today() + dt.timedelta(days=DUE_IN),
    )
    factories.trust_entry(matter, 250_000, description="Anticipo")
    return Books(person, matter, invoice, factories.link(person))


def speaking(client: FlaskClient, accept_language: str | None) -> Browser:
    """A browser that sends `accept_language` with every request."""
    if accept_language is not None:
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = accept_language
    return Browser(client)


def switch_link(page: TestResponse, tag: str) -> str:
    """The switcher's link to the language tagged `tag` ("es-US"), as the page offers it."""
    found = re.search(rf'<a href="([^"]+)" lang="{tag}" hreflang="{tag}">', page.text)
    assert found is not None, f"no switcher link to {tag} on the page"
    return html.unescape(found.group(1)).removeprefix("https://localhost")


def lang_of(page: TestResponse) -> str:
    found = re.search(r'<html lang="([^"]+)">', page.text)
    assert found is not None
    return found.group(1)


# -- which language --------------------------------------------------------------------------


def test_accept_language_es_gives_spanish_with_spanish_formatting(client, books: Books) -> None:
    browser = speaking(client, "es-MX,es;q=0.9,en;q=0.5")
    browser.open(books.link)

    page = browser.get(f"/matters/{books.matter.id}")

    assert page.status_code == 200
    assert lang_of(page) == "es-US"
    text = text_of(page.text)
    assert "Saldo pendiente" in text and "Saldo en fideicomiso" in text
    assert "Balance due" not in text
    # Dates the Spanish way (CLDR es_US: "10 abr 2026"), not the English "Apr 10, 2026".
    due = books.invoice.due_on
    assert format_date(due, "medium", locale="es_US") in text
    assert format_date(due, "medium", locale="en_US") not in text
    assert format_date(dt.date(2026, 4, 10), "medium", locale="es_US") == "10 abr 2026"
    # Amounts through Babel for es_US.
    assert format_money(123_456, "USD", "es_US") in text
    assert format_money(250_000, "USD", "es_US") in text


def test_english_browser_gets_english(client, books: Books) -> None:
    browser = speaking(client, "en-GB,en;q=0.9")
    browser.open(books.link)

    page = browser.get(f"/matters/{books.matter.id}")

    assert lang_of(page) == "en-US"
    assert "Balance due" in page.text
    assert format_date(books.invoice.due_on, "medium", locale="en_US") in text_of(page.text)


def test_the_clients_record_beats_the_browser(client, books: Books, session) -> None:
    books.client.locale = "es_US"
    session.flush()
    browser = speaking(client, "en-US,en;q=0.9")
    browser.open(books.link)

    page = browser.get("/matters")

    assert lang_of(page) == "es-US"
    assert "Sus asuntos" in page.text


def test_without_record_or_header_the_default_applies(client, books: Books, app: Flask) -> None:
    app.config["DEFAULT_LOCALE"] = "es_US"
    browser = speaking(client, None)
    browser.open(books.link)

    assert lang_of(browser.get("/matters")) == "es-US"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("es", "es_US"),
        ("es-ES", "es_US"),
        ("de-DE, es;q=0.8, en;q=0.5", "es_US"),
        ("de-DE, en;q=0.8, es;q=0.5", "en_US"),
        ("en-US;q=0.4, es-US;q=0.9", "es_US"),
        ("fr-FR, en;q=0.8", "fr_CA"),  # French reads fr_CA, France's or Canada's
        ("fr-CA", "fr_CA"),
        ("de, fr;q=0.5", "fr_CA"),
        ("de, it", "en_US"),  # nothing we speak: the default
        ("*", "en_US"),
        ("es;q=0, en;q=0.1", "en_US"),
        ("", "en_US"),
    ],
)
def test_browser_language_negotiation(app: Flask, header: str, expected: str) -> None:
    with app.test_request_context("/matters", headers={"Accept-Language": header}):
        assert i18n.negotiate(None) == expected


def test_the_api_speaks_english_whatever_the_header(app: Flask) -> None:
    with app.test_request_context("/api/v1/clients", headers={"Accept-Language": "es"}):
        assert i18n.negotiate("es_US") == "en_US"


def test_error_pages_without_a_session_follow_the_browser(client, session) -> None:
    browser = speaking(client, "es")

    missing = browser.get("/matters")
    not_found = browser.get("/nowhere")

    assert missing.status_code == 401
    assert "Vuelva a abrir su enlace" in missing.text
    assert not_found.status_code == 404
    assert "Página no encontrada" in not_found.text


# -- the switcher ----------------------------------------------------------------------------


def _switch(browser: Browser, page: TestResponse, tag: str) -> TestResponse:
    """Follow the page's switcher link to `tag`, then the redirect back."""
    response = browser.get(switch_link(page, tag))
    assert response.status_code == 303
    return browser.get(location(response))


def test_the_switcher_works_on_every_page_of_the_pay_flow(client, books: Books) -> None:
    browser = speaking(client, "en-US")
    browser.open(books.link)
    book = books

    # Every GET page comes back as itself, in Spanish, then in English again.
    for path in (
        "/matters",
        f"/matters/{book.matter.id}",
        f"/matters/{book.matter.id}/trust",
        f"/pay?matter={book.matter.id}",
    ):
        page = browser.get(path)
        assert lang_of(page) == "en-US", path
        assert '<span aria-current="true" lang="en-US">English</span>' in page.text
        spanish = _switch(browser, page, "es-US")
        assert spanish.status_code == 200, path
        assert lang_of(spanish) == "es-US", path
        assert '<span aria-current="true" lang="es-US">Español</span>' in spanish.text
        english = _switch(browser, spanish, "en-US")
        assert lang_of(english) == "en-US", path

    # The review page answers a POST: its switcher leads back to the basket as chosen.
    amount = "1,234.56"
    review = choose(browser.basket(), invoices={book.invoice.id: amount}).submit()
    assert review.status_code == 200
    switched = browser.get(switch_link(review, "es-US"))
    back = location(switched)
    assert back.startswith("/pay?")
    basket = browser.get(back)
    assert lang_of(basket) == "es-US"
    assert "Hacer un pago" in basket.text
    assert f'value="{amount.replace(",", "")}"' in basket.text  # the amount is still typed

    # In Spanish the review and the receipt follow, and the choice holds for the session.
    review = choose(browser.basket(), invoices={book.invoice.id: amount}).submit()
    assert lang_of(review) == "es-US"
    assert "Revise su pago" in review.text
    done = browser.form(review, "confirm").fill(VISA).submit()
    receipt = browser.get(location(done))
    assert receipt.status_code == 200
    assert lang_of(receipt) == "es-US"
    assert "Gracias: su pago se completó" in receipt.text
    assert "Pagado" in receipt.text  # the charge's status word
    english = _switch(browser, receipt, "en-US")
    assert "Thank you: your payment is complete" in english.text


def test_the_switch_beats_the_clients_record(client, books: Books, session) -> None:
    books.client.locale = "es_US"
    session.flush()
    browser = speaking(client, None)
    browser.open(books.link)
    page = browser.get("/matters")
    assert lang_of(page) == "es-US"

    english = _switch(browser, page, "en-US")

    assert lang_of(english) == "en-US"
    assert lang_of(browser.get(f"/matters/{books.matter.id}")) == "en-US"


def test_opening_a_new_link_lets_its_clients_record_decide_again(
    client, books: Books, session, firm
) -> None:
    browser = speaking(client, None)
    browser.open(books.link)
    _switch(browser, browser.get("/matters"), "es-US")
    someone_else = factories.client(firm, locale="en_US")
    factories.matter(someone_else)

    browser.open(factories.link(someone_else))

    assert lang_of(browser.get("/matters")) == "en-US"


def test_the_choice_survives_an_expired_session_page(client, books: Books) -> None:
    browser = speaking(client, None)
    page = browser.get("/matters")  # no link opened: 401
    spanish = _switch(browser, page, "es-US")

    assert spanish.status_code == 401
    assert lang_of(spanish) == "es-US"


def test_an_error_page_switches_to_the_matters_not_the_failed_address(client, books) -> None:
    browser = speaking(client, None)
    browser.open(books.link)
    page = browser.get("/matters/987654321")

    assert page.status_code == 404
    assert switch_link(page, "es-US") == "/language/es_US?next=/matters"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "",
    ],
)
def test_the_switcher_never_leaves_the_site(client, session, target: str) -> None:
    response = client.get("/language/es_US", query_string={"next": target})

    assert response.status_code == 303
    assert response.headers["Location"] == "/matters"


def test_an_unknown_language_is_not_found(client, session) -> None:
    assert client.get("/language/xx_XX?next=/matters").status_code == 404
    assert client.get("/language/es?next=/matters").status_code == 404


def test_a_links_token_never_goes_into_the_switcher(client, session) -> None:
    page = client.get("/l/not-a-real-token", base_url="https://localhost")

    assert page.status_code == 404
    assert "not-a-real-token" not in page.text


# -- messages from Python, and formatting filters --------------------------------------------


def test_allocation_messages_are_in_the_pages_language(client, books: Books, session) -> None:
    books.client.locale = "es_US"
    session.flush()
    browser = speaking(client, None)
    browser.open(books.link)

    refused = browser.basket().set("total", "5,000.00").set("method", "card").submit("total")

    assert refused.status_code == 422
    due = format_money(123_456, "USD", "es_US")
    assert f"Eso es más que los {due} que se deben en total." in text_of(refused.text)


@pytest.mark.parametrize(
    ("locale", "value", "expected"),
    [
        ("en_US", Decimal("0.029"), "2.9%"),
        ("es_US", Decimal("0.029"), "2.9%"),  # CLDR: US Spanish writes it the US way
        ("es_ES", Decimal("0.029"), "2,9\xa0%"),  # the filter does follow the locale
        ("en_US", 1, "100%"),
        ("es_US", "0.5", "50%"),
    ],
)
def test_percent_filter_follows_the_locale(
    app: Flask, locale: str, value: object, expected: str
) -> None:
    from babel.numbers import format_percent

    assert format_percent(Decimal(str(value)), locale=locale, decimal_quantization=False) == (
        expected
    )
    with app.test_request_context("/"):
        i18n.use_locale(locale)
        rendered = app.jinja_env.from_string("{{ value|percent }}").render(value=value)
    assert rendered == expected


def test_percent_filter_refuses_floats(app: Flask) -> None:
    with app.test_request_context("/"), pytest.raises(TypeError):
        app.jinja_env.from_string("{{ 0.5|percent }}").render()


def test_the_switch_is_not_cached(client, session) -> None:
    response = client.get("/language/es_US?next=/matters")
    assert response.headers["Cache-Control"] == "no-store"


# -- the unexpected-error page ---------------------------------------------------------------


def _boom(app: Flask) -> None:
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")


def test_the_unexpected_error_page_follows_the_browser(fresh_app: Flask, session) -> None:
    _boom(fresh_app)

    response = fresh_app.test_client().get("/boom", headers={"Accept-Language": "es"})

    assert response.status_code == 500
    assert '<html lang="es-US">' in response.text
    assert "Algo salió mal de nuestra parte" in response.text


def test_if_the_error_page_itself_fails_a_plain_answer_remains(
    fresh_app: Flask, session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portal import errors

    _boom(fresh_app)

    def broken(*_args: object, **_kw: object) -> str:
        raise ValueError("a broken catalog, say")

    monkeypatch.setattr(errors, "render_template", broken)

    response = fresh_app.test_client().get("/boom")

    assert response.status_code == 500
    assert response.mimetype == "text/plain"
    assert "Nothing was charged" in response.text
