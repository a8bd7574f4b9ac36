"""Hostile text in every field of every form a payer can post, one field at a time: no 5xx.

test_fuzz_forms.py lets Hypothesis mix many changes at once; this sweep makes sure each field
of each form (the client's basket and confirm pages, card and bank; the firm's public pay page,
both steps; /check; the dead link's "email me a fresh link") and each query parameter of the
basket pages gets every value of TEXTS on its own, with the rest of the form as the page
rendered it. A NUL reaching PostgreSQL is a 500 there, so the PostgreSQL pass is the one that
counts. A lone surrogate cannot be typed into a form (browsers send UTF-8); its bytes as a
browser would percent-encode them are sent raw, and must be read as replacement characters.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from tests.payments.test_fuzz_forms import (  # noqa: F401 (fixtures, used by name)
    app,
    browser,
    public_books,
)
from tests.payments.test_views import (  # noqa: F401 (`books` is a fixture)
    BASE_URL,
    VISA,
    Books,
    Browser,
    Form,
    books,
    choose,
)

TEXTS = [
    "a\x00b",
    "\x1b[2J",
    "\x7f\x85\x9b",
    "a\u2028b\u2029",
    "\r\nBcc: x@example.com",
    "x" * 10_000,
    "\x00" * 10_000,
]
#: A lone surrogate (U+D800) as UTF-8-like bytes, percent-encoded.
SURROGATE = "%ED%A0%80"


def _sweep(browser: Browser, path: str, fields: list[tuple[str, str]]) -> list[tuple]:  # noqa: F811
    """Post `fields` once per (field, text) with that field replaced; the 5xx answers."""
    failures = []
    for n, (name, _value) in enumerate(fields):
        if name == "csrf_token":
            continue
        for text in TEXTS:
            sent = [*fields[:n], (name, text), *fields[n + 1 :]]
            status = browser.post(path, _fresh_nonce(sent, name)).status_code
            if status >= 500:
                failures.append((path, name, text[:12], status))
        raw = "&".join(
            f"{quote(k)}={SURROGATE if i == n else quote(v)}" for i, (k, v) in enumerate(fields)
        )
        response = browser.client.post(
            path,
            data=raw,
            content_type="application/x-www-form-urlencoded",
            base_url=BASE_URL,
            headers={"Referer": f"{BASE_URL}/pay"},
        )
        if response.status_code >= 500:
            failures.append((path, name, SURROGATE, response.status_code))
    return failures


def _fresh_nonce(fields: list[tuple[str, str]], fuzzed: str) -> list[tuple[str, str]]:
    """A new nonce per post (unless the nonce is what is fuzzed): with the page's own, every
    post after the first that pays would only be shown that payment's receipt again."""
    if fuzzed == "nonce":
        return fields
    nonce = secrets.token_urlsafe(24)
    return [(k, nonce if k == "nonce" else v) for k, v in fields]


def _query_sweep(browser: Browser, path: str, names: list[str]) -> list[tuple]:  # noqa: F811
    failures = []
    for name in names:
        for text in [*TEXTS, SURROGATE]:
            value = text if text == SURROGATE else quote(text, safe="")
            status = browser.client.get(f"{path}?{name}={value}", base_url=BASE_URL).status_code
            if status >= 500:
                failures.append((path, name, text[:12], status))
    return failures


@pytest.mark.slow
def test_every_client_form_field_takes_hostile_text(browser: Browser, books: Books) -> None:  # noqa: F811
    basket = browser.basket()
    failures = _sweep(browser, "/pay/review", basket.fields)
    names = sorted({name for name, _ in basket.fields if name != "csrf_token"})
    failures += _query_sweep(browser, "/pay", names)
    for method in ("card", "ach"):
        review = choose(browser.basket(), invoices={books.old.id: "10.00"}, method=method)
        page = review.submit()
        assert page.status_code == 200
        confirm: Form = browser.form(page, "confirm")
        if method == "card":
            confirm.fill(VISA)
        else:
            confirm.fill(
                {
                    "account_holder": "Ada Client",
                    "routing_number": "110000000",
                    "account_number": "000123456789",
                    "account_type": "checking",
                }
            )
        failures += _sweep(browser, "/pay/confirm", confirm.fields)
    assert failures == []


@pytest.mark.slow
def test_every_public_form_field_takes_hostile_text(client: FlaskClient, public_books) -> None:  # noqa: F811
    from portal.links import services as links

    pages = Browser(client)
    slug = public_books["firm"].slug
    start = pages.form(pages.get(f"/pay/{slug}"), "public-pay")
    failures = _sweep(pages, f"/pay/{slug}/review", start.fields)
    failures += _query_sweep(pages, f"/pay/{slug}", ["kind", "reference", "amount", "lang"])
    typed = pages.form(pages.get(f"/pay/{slug}"), "public-pay")
    typed.fill(
        {"name": "Grace Parent", "email": "grace@example.com", "reference": "INV-1001"}
        | {"amount": "100.00", "method": "card"}
    )
    review = typed.submit()
    assert review.status_code == 200
    confirm = pages.form(review, "confirm").fill(VISA)
    failures += _sweep(pages, f"/pay/{slug}/confirm", confirm.fields)
    check = pages.form(pages.get("/check"), "check")
    failures += _sweep(pages, "/check", check.fields)
    failures += _query_sweep(pages, "/check", ["link"])
    dead = pages.client.get(f"/l/{links.token_for(public_books['dead'])}", base_url=BASE_URL)
    assert dead.status_code == 410
    failures += _sweep(pages, "/l/fresh", pages.form(dead, "fresh-link").fields)
    assert failures == []
