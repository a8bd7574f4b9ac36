"""Hostile input on every client form: no 5xx, and nothing a payer typed comes back as markup.

The client pages have two forms that post (templates/payments/basket.html posts to
/pay/review, templates/payments/review.html to /pay/confirm) and the basket also reads its
fields from the query string of GET /pay (the "edit" and "retry" links). Each test starts from
the form as the page renders it, then lets Hypothesis keep, replace, drop, repeat or add
fields with values a careless or hostile payer could send: huge and negative numbers,
fractions of a cent, other locales' separators and digits, markup and script, control
characters, very long strings, and ids that are not numbers. The public pages get the same
treatment: the firm's pay page /pay/<slug> (both steps), the link check /check and the
"email me a fresh link" form of a dead link's page.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from tests.conftest import make_test_app
from tests.payments.test_views import (  # noqa: F401 (`books` is a fixture, used by name)
    BASE_URL,
    VISA,
    Books,
    Browser,
    Form,
    books,
    choose,
)

EXAMPLES = 40

#: Markup a payer might type into any box; none of it may come back unescaped.
MARKUP = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg/onload=alert(1)>",
    "</textarea><script>alert(2)</script>",
    "'><iframe src=javascript:alert(3)>",
    "<b onmouseover=alert(4)>bold</b>",
]
#: Amounts and other values in every shape but the expected one.
ODD = [
    "",
    " ",
    "0",
    "-0.01",
    "-100",
    "0.001",
    "12.345",
    "1e308",
    "1E5",
    "NaN",
    "Infinity",
    "-Infinity",
    "99999999999999999999999999999999",
    "-99999999999999999999999999999999",
    str(2**63),
    str(2**64 + 1),
    "1.234,56",
    "1 234,56",
    "1\u00a0234,56",
    "1'234.56",
    "١٢٣",
    "\u0661\u0662\u0663\u066b\u0664\u0665",  # Arabic-Indic 123.45
    "\uff11\uff12\uff13",  # full-width 123
    "۱۲۳",
    "$1,200.00",
    "USD 12",
    "12 €",
    "0x1F",
    "1_000",
    "+5",
    "--5",
    "\x00",
    "a\x00b",
    "\r\n",
    "%00",
    "{{ 7*7 }}",
    "${7*7}",
    "' OR 1=1 --",
    "null",
    "[]",
    "{}",
    "true",
    "x" * 5000,
    "x" * 10_000,
    "\x1b[2J\x7f\x85\x9b",
    "a\u2028b\u2029",
    "\r\nBcc: x@example.com",
    "9" * 400,
    "\u202e1.00",
    "ﷺ" * 50,
]

markup = st.sampled_from(MARKUP) | st.builds(
    lambda tag, n: f'<{tag} data-fuzz="{n}">',
    st.sampled_from(["script", "img", "a"]),
    st.integers(0, 9999),
)
values = st.sampled_from(ODD) | markup | st.text(max_size=40) | st.integers().map(str)


def _mutated(
    base: list[tuple[str, str]],
    plan: list[str],
    replacements: list[str],
    extra: list[tuple[str, str]],
) -> list[tuple[str, str]]:
    """Apply one decision per field: keep, replace, drop or repeat it; then add extras."""
    out: list[tuple[str, str]] = []
    for (name, value), decision, replacement in zip(base, plan, replacements, strict=False):
        if name == "csrf_token" and decision != "replace":
            out.append((name, value))  # mostly a valid token, to reach the form's own checks
        elif decision == "keep":
            out.append((name, value))
        elif decision == "replace":
            out.append((name, replacement))
        elif decision == "repeat":
            out += [(name, replacement), (name, value)]
    return out + extra


def mutations(base: list[tuple[str, str]], names: list[str]) -> st.SearchStrategy:
    n = len(base)
    return st.builds(
        _mutated,
        st.just(base),
        st.lists(
            st.sampled_from(["keep", "keep", "replace", "replace", "drop", "repeat"]),
            min_size=n,
            max_size=n,
        ),
        st.lists(values, min_size=n, max_size=n),
        st.lists(st.tuples(st.sampled_from(names), values), max_size=4),
    )


def assert_safe(response: TestResponse, sent: list[tuple[str, str]]) -> None:
    """No server error, and no markup that was sent comes back as markup."""
    assert response.status_code < 500, (response.status_code, sent)
    page = response.get_data(as_text=True)
    for _name, value in sent:
        for piece in MARKUP:
            if piece in value:
                assert piece not in page, (piece, sent)
        if value.startswith("<") and "data-fuzz" in value:
            assert value not in page, (value, sent)


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The usual test app with abuse limits off: the fuzzer is not an attacker to slow down."""
    app = make_test_app(database_url, RATELIMIT_ENABLED=False)
    with app.app_context():
        yield app
    app.extensions["portal.engine"].dispose()


@pytest.fixture
def browser(client: FlaskClient, books: Books) -> Browser:  # noqa: F811 (the fixture)
    b = Browser(client)
    b.open(books.link)
    return b


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _names(books: Books) -> list[str]:  # noqa: F811
    """Field names the pay forms read, for the fields the fuzzer adds."""
    ids = [books.old.id, books.new.id, books.probate.id, books.lawsuit.id, 0, 10**30]
    return [
        "invoice",
        "trust",
        "total",
        "method",
        "action",
        "matter",
        "nonce",
        "mandate",
        "card_number",
        "card_expiry",
        "card_cvc",
        "card_name",
        "account_holder",
        "routing_number",
        "account_number",
        "account_type",
        "payment_method_id",
        *(f"invoice-{i}" for i in ids),
        *(f"trust-{i}" for i in ids),
    ]


@pytest.mark.slow
def test_the_basket_form_takes_any_input(browser: Browser, books: Books) -> None:  # noqa: F811
    base = browser.basket().fields

    @FUZZ_SETTINGS
    @given(fields=mutations(base, _names(books)))
    def post(fields: list[tuple[str, str]]) -> None:
        response = browser.post("/pay/review", fields)
        assert_safe(response, fields)

    post()


@pytest.mark.slow
def test_the_basket_page_takes_any_query(browser: Browser, books: Books) -> None:  # noqa: F811
    base = browser.basket().fields

    @FUZZ_SETTINGS
    @given(fields=mutations([f for f in base if f[0] != "csrf_token"], _names(books)))
    def get(fields: list[tuple[str, str]]) -> None:
        response = browser.client.get(f"/pay?{urlencode(fields)}", base_url=BASE_URL)
        assert_safe(response, fields)

    get()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["card", "ach"])
def test_the_confirm_form_takes_any_input(browser: Browser, books: Books, method: str) -> None:  # noqa: F811
    basket = choose(browser.basket(), invoices={books.old.id: "10.00"}, method=method)
    review = basket.submit()
    assert review.status_code == 200
    confirm: Form = browser.form(review, "confirm")
    if method == "card":
        confirm.fill(VISA)
    base = confirm.fields

    @FUZZ_SETTINGS
    @given(fields=mutations(base, _names(books)))
    def post(fields: list[tuple[str, str]]) -> None:
        response = browser.post("/pay/confirm", fields)
        assert_safe(response, fields)

    post()


def test_the_check_catches_markup_that_comes_back() -> None:
    # given a page that echoes a value raw, as a template with |safe would
    class Echo:
        status_code = 200

        def __init__(self, text: str) -> None:
            self.text = text

        def get_data(self, as_text: bool = False) -> str:
            return self.text

    sent = [("card_name", MARKUP[0])]

    # then the raw echo fails the check and the escaped one passes
    with pytest.raises(AssertionError):
        assert_safe(Echo(f"<p>{MARKUP[0]}</p>"), sent)  # type: ignore[arg-type]
    assert_safe(Echo(f"<p>{html.escape(MARKUP[0])}</p>"), sent)  # type: ignore[arg-type]


# -- the public pages: the firm's pay page, the link check, the fresh-link request ------------


@pytest.fixture
def public_books(session, firm):
    """A firm with an open invoice its public pay page can match, and a client with a link."""
    from portal.links import services as links
    from tests import factories

    person = factories.client(firm, name="Ada Client", email="ada@example.com")
    lawsuit = factories.matter(person, number="2026-001", title="Client v. Northside")
    factories.invoice(lawsuit, number="INV-1001", total_minor=50_000)
    dead = factories.link(person)
    links.revoke_link(dead)
    return {"firm": firm.firm, "dead": dead}


PUBLIC_NAMES = ["name", "email", "reference", "amount", "method", "kind", "link", "ref", "nonce"]


@pytest.mark.slow
def test_the_public_pay_form_takes_any_input(client: FlaskClient, public_books) -> None:
    browser = Browser(client)
    slug = public_books["firm"].slug
    start = browser.get(f"/pay/{slug}")
    assert start.status_code == 200
    base = browser.form(start, "public-pay").fields

    @FUZZ_SETTINGS
    @given(fields=mutations(base, PUBLIC_NAMES))
    def post(fields: list[tuple[str, str]]) -> None:
        response = browser.post(f"/pay/{slug}/review", fields)
        assert_safe(response, fields)

    post()


@pytest.mark.slow
def test_the_public_confirm_form_takes_any_input(client: FlaskClient, public_books) -> None:
    browser = Browser(client)
    slug = public_books["firm"].slug
    typed = browser.form(browser.get(f"/pay/{slug}"), "public-pay")
    typed.fill(
        {"name": "Grace Parent", "email": "grace@example.com", "reference": "INV-1001"}
        | {"amount": "100.00", "method": "card"}
    )
    review = typed.submit()
    assert review.status_code == 200, review.text
    base = browser.form(review, "confirm").fill(VISA).fields

    @FUZZ_SETTINGS
    @given(fields=mutations(base, PUBLIC_NAMES + _CARD_NAMES))
    def post(fields: list[tuple[str, str]]) -> None:
        response = browser.post(f"/pay/{slug}/confirm", fields)
        assert_safe(response, fields)

    post()


_CARD_NAMES = ["card_number", "card_expiry", "card_cvc", "card_name", "mandate"]


@pytest.mark.slow
def test_the_link_check_and_fresh_link_forms_take_any_input(
    client: FlaskClient,
    public_books,
) -> None:
    from portal.links import services as links

    browser = Browser(client)
    check = browser.form(browser.get("/check"), "check").fields
    dead_page = browser.client.get(f"/l/{links.token_for(public_books['dead'])}", base_url=BASE_URL)
    assert dead_page.status_code == 410
    fresh = browser.form(dead_page, "fresh-link").fields

    @FUZZ_SETTINGS
    @given(
        to_check=mutations(check, PUBLIC_NAMES),
        to_refresh=mutations(fresh, PUBLIC_NAMES),
    )
    def post(to_check: list[tuple[str, str]], to_refresh: list[tuple[str, str]]) -> None:
        assert_safe(browser.post("/check", to_check), to_check)
        assert_safe(browser.post("/l/fresh", to_refresh), to_refresh)

    post()
