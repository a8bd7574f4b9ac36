"""Junk posted to every console POST route (walked from `app.url_map`): empty fields, far too
long ones, NUL characters, words where numbers and choices belong, and a forged CSRF token.

Never a 500. A forged token is a 400. A refused form comes back (4xx) saying what is wrong,
and a text box keeps what was typed in it. The bodies are the forms the console's own pages
show for that address (every field, the firm's real ids in the URL); a route no page shows a
form for gets the junk under a made-up field name.
"""

from __future__ import annotations

import pytest
from flask import Flask

from portal.console.pages import NAV
from tests import factories
from tests.clocks import Clock
from tests.console.conftest import Console, Person
from tests.console.walk import (
    Estate,
    Form,
    build_estate,
    console_rules,
    forms_of,
    guard_of,
    methods_of,
    post_forms,
)

#: Where a person types text that should come back after a refusal. Passwords, codes and
#: choices are never written back (a password on the page; a choice not offered is no choice).
KEPT_KINDS = {"text", "email", "search", "url", "tel", "textarea"}
#: Fields the page rightly does not keep, and why.
NOT_KEPT = {
    "client": "the links page's client box is the page's filter; a refused form shows the list",
}
TYPED = "typed Ω 7 <b>"
JUNK = {
    "empty": "",
    "long": "x" * 5_000,
    "nul": "a\x00b",
    "typed": TYPED,
}
#: The sign-outs end the session the walk needs: they are walked last.
LAST = ("console.sign_out_everywhere", "console.sign_out")
PUBLIC_PAGES = ["/console/sign-in", "/console/forgot"]


@pytest.fixture
def estate(
    app: Flask, firm: factories.FirmWithKey, admin: Person, staffer: Person, frozen_clock: Clock
) -> Estate:
    app.config.update(WEBHOOK_ALLOW_PRIVATE_TARGETS=True, WEBHOOK_TIMEOUT_SECONDS=1)
    return build_estate(firm, staffer.user.id)


def _forms(console: Console, estate: Estate) -> dict[str, Form]:
    pages = {
        path: console.get(path).get_data(as_text=True)
        for path in [f"/console{s.path}" for s in NAV]
        + [
            f"/console/payments/{estate.ids['payment']}",
            "/console/links?client=C-1",
            "/console/confirm-password",
        ]
    }
    return {form.action: form for form in post_forms(pages)}


def _body(form: Form | None, value: str) -> dict[str, str]:
    names = [n for n in (form.fields if form else {"junk": ""}) if n != "csrf_token"]
    return dict.fromkeys(names, value)


def _check(response, where: str, form: Form | None, variant: str, *, kept: bool = True) -> int:
    """Judge one answer; how many typed values it was seen to keep."""
    assert response.status_code < 500, where
    if response.status_code not in (409, 422):
        return 0  # done (303), sent back (302), refused (400, 401) or gone (404)
    text = response.get_data(as_text=True)
    if response.mimetype != "text/html" or form is None:
        return 0
    seen = 0
    assert 'class="field-error"' in text or 'role="alert"' in text, (where, text[-2000:])
    if variant == "typed" and kept:
        for name, kind in form.kinds.items():
            if kind in KEPT_KINDS and name not in NOT_KEPT and f'name="{name}"' in text:
                shown = next(
                    (f for f in forms_of(text) if name in f.fields and f.action == form.action),
                    None,
                )
                assert shown is not None and shown.fields[name].strip() == TYPED.strip(), (
                    where,
                    name,
                    shown.fields.get(name) if shown else None,
                )
                seen += 1
    return seen


def _path(rule, estate: Estate) -> str:
    """The rule's address with the firm's ids; an emailed token is simply a wrong one."""
    if "token" in rule.arguments:
        return rule.rule.replace("<token>", "not-a-token")
    return estate.path(rule)


def _walk(app: Flask, console: Console, estate: Estate, forms: dict[str, Form], public: bool):
    rules = sorted(console_rules(app), key=lambda r: r.endpoint in LAST)
    walked = kept = 0
    for rule in rules:
        if "POST" not in methods_of(rule) or (guard_of(app, rule) is None) is not public:
            continue
        path = _path(rule, estate)
        form = forms.get(path)
        for variant, value in JUNK.items():
            where = f"POST {rule.rule} ({variant})"
            token_page = "/console/sign-in" if public else "/console/postings"
            response = console.post(path, _body(form, value), form_page=token_page)
            kept += _check(response, where, form, variant)
            if rule.endpoint in LAST:
                break  # signed out now: once is all there is
        walked += 1
    return walked, kept


def test_junk_on_every_signed_in_form_never_breaks_a_page(
    app: Flask, console: Console, admin: Person, estate: Estate
) -> None:
    console.sign_in_as(admin)
    forms = _forms(console, estate)
    walked, kept = _walk(app, console, estate, forms, public=False)
    assert walked >= 25
    assert kept >= 10  # typed text seen kept on the refused forms (invite, links, settings...)


def test_junk_on_the_ways_in_never_breaks_a_page(
    app: Flask, console: Console, estate: Estate
) -> None:
    pages = {path: console.get(path).get_data(as_text=True) for path in PUBLIC_PAGES}
    forms = {form.action: form for form in post_forms(pages)}
    walked, _ = _walk(app, console, estate, forms, public=True)
    assert walked >= 5


def test_a_forged_csrf_token_is_refused_on_every_console_form(
    app: Flask, console: Console, admin: Person, estate: Estate
) -> None:
    console.sign_in_as(admin)
    for rule in console_rules(app):
        if "POST" not in methods_of(rule):
            continue
        path = _path(rule, estate)
        for token in ("", "forged", "a\x00b"):
            g_free = console.client.post(
                path,
                data={"csrf_token": token, "junk": "1"},
                base_url="https://localhost",
                headers={"Referer": "https://localhost/console/"},
            )
            assert g_free.status_code == 400, f"POST {rule.rule} with token {token!r}"
    # and nothing was done: the admin is still signed in
    assert console.get("/console/").status_code == 200
