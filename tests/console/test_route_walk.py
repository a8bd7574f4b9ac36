"""Every console route, walked from `app.url_map` (all its methods), three times: signed out
(302 to sign-in), as an admin of another firm with this firm's ids in the URL and this firm's
own forms as the bodies (404, never this firm's data, nothing of it changed), and as a `staff`
user on the admin pages (403). Admin pages are the ones `admin_required` marked, not a list."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from portal.console.pages import NAV
from tests import factories
from tests.clocks import Clock
from tests.console.conftest import Console, Person, make_person
from tests.console.walk import (
    PUBLIC,
    Estate,
    build_estate,
    console_rules,
    guard_of,
    methods_of,
    post_forms,
    state_of,
)


@pytest.fixture
def estate(
    app: Flask, firm: factories.FirmWithKey, admin: Person, staffer: Person, frozen_clock: Clock
) -> Estate:
    app.config.update(WEBHOOK_ALLOW_PRIVATE_TARGETS=True, WEBHOOK_TIMEOUT_SECONDS=1)
    return build_estate(firm, staffer.user.id)


def _send(console: Console, method: str, path: str, data: dict[str, str] | None = None):
    if method == "GET":
        return console.get(path)
    assert method == "POST", f"{method} {path}: the walk knows GET and POST only"
    # A token from a page this visitor may open: the CSRF check comes before any guard.
    return console.post(path, data or {}, form_page="/console/sign-in")


def test_every_console_route_is_guarded_or_says_why_not(app: Flask) -> None:
    unguarded = {r.endpoint for r in console_rules(app) if guard_of(app, r) is None}
    assert unguarded == set(PUBLIC)
    # The navigation hides from `staff` exactly the sections their guard refuses them.
    by_endpoint = {r.endpoint: guard_of(app, r) for r in console_rules(app)}
    for section in NAV:
        assert (by_endpoint[section.endpoint] == "admin") is section.admin_only, section


def test_a_signed_out_visitor_is_sent_to_sign_in_everywhere(
    app: Flask, console: Console, estate: Estate
) -> None:
    walked = 0
    for rule in console_rules(app):
        if guard_of(app, rule) is None:
            continue
        for method in methods_of(rule):
            where = f"{method} {rule.rule}"
            path = estate.path(rule)
            response = _send(console, method, path)
            assert response.status_code == 302, where
            location = urlsplit(response.headers["Location"])
            assert location.path == "/console/sign-in", where
            # A page asked for comes back after signing in; a form sent is not replayed.
            wanted = [path] if method == "GET" else []
            assert parse_qs(location.query).get("next", []) == wanted, where
            walked += 1
    assert walked >= 40


def test_a_staff_user_gets_403_on_every_admin_route(
    app: Flask, console: Console, staffer: Person, estate: Estate
) -> None:
    console.sign_in_as(staffer)
    admin_rules = [r for r in console_rules(app) if guard_of(app, r) == "admin"]
    assert len(admin_rules) >= 10
    before = state_of(staffer.user.firm_id)
    for rule in admin_rules:
        for method in methods_of(rule):
            path = estate.path(rule)
            if method == "GET":
                response = console.get(path)
            else:
                response = console.post(path, {}, form_page="/console/postings")
            assert response.status_code == 403, f"{method} {rule.rule}"
    assert state_of(staffer.user.firm_id) == before


def test_another_firms_admin_finds_nothing_of_this_firm(
    app: Flask,
    console: Console,
    admin: Person,
    estate: Estate,
    firm: factories.FirmWithKey,
    other_firm: factories.FirmWithKey,
) -> None:
    # This firm's own forms, as its admin sees them: the bodies a stranger replays.
    console.sign_in_as(admin)
    pages = {
        path: console.get(path).get_data(as_text=True)
        for path in [f"/console{s.path}" for s in NAV]
        + [f"/console/payments/{estate.ids['payment']}", "/console/links?client=C-1"]
    }
    forms = {form.action: form.fields for form in post_forms(pages)}
    assert any(estate.ids["message"] in body.values() for body in forms.values())
    for kind in ("payment", "stray", "account", "link", "endpoint", "trust_request", "user"):
        assert any(estate.ids[kind] in action for action in forms), f"no form names the {kind}"
    before = state_of(firm.id)

    stranger = Console(app.test_client())
    stranger.sign_in_as(make_person(other_firm, "x@brandt.example"))
    # Signing out everywhere ends the stranger's walk, so it comes last.
    walk = sorted(console_rules(app), key=lambda r: r.endpoint == "console.sign_out_everywhere")
    for rule in walk:
        if guard_of(app, rule) is None:
            continue
        path = estate.path(rule)
        body = {k: v for k, v in forms.get(path, {}).items() if k != "csrf_token"}
        for method in methods_of(rule):
            where = f"{method} {rule.rule}"
            if method == "GET":
                response = stranger.get(path)
            else:
                response = stranger.post(path, body, form_page="/console/users")
            text = response.get_data(as_text=True)
            if rule.arguments:
                assert response.status_code == 404, where
            else:
                assert response.status_code < 500, where
            for secret in estate.secrets:
                assert secret not in text, (where, secret)
    assert state_of(firm.id) == before
