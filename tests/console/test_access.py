"""Who opens which console page: signed out → sign-in, `staff` on an admin page → 403, another
firm's ids → 404; and the console's session and a client's link session never open each
other's pages."""

from __future__ import annotations

import pytest
from flask import Flask

from portal.console.pages import NAV
from portal.links import services as links
from tests import factories
from tests.console.conftest import BASE_URL, Console, Person, make_person
from tests.factories import FirmWithKey

ADMIN_PAGES = [s.path for s in NAV if s.admin_only]
STAFF_PAGES = [s.path for s in NAV if not s.admin_only]


@pytest.mark.parametrize("path", [s.path for s in NAV])
def test_every_page_sends_a_signed_out_visitor_to_sign_in(console: Console, path: str) -> None:
    response = console.get(f"/console{path}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/sign-in?next=")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/console/users/invite"),
        ("post", "/console/users/1/role"),
        ("post", "/console/users/1/deactivate"),
        ("post", "/console/users/1/reactivate"),
        ("post", "/console/users/1/reset-mfa"),
        ("post", "/console/sign-out-everywhere"),
        ("get", "/console/confirm-password"),
    ],
)
def test_every_action_sends_a_signed_out_visitor_to_sign_in(
    console: Console, method: str, path: str
) -> None:
    if method == "post":
        response = console.post(path, {}, form_page="/console/sign-in")
    else:
        response = console.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/sign-in")


def test_staff_see_no_admin_entries_and_get_403_on_admin_pages(
    console: Console, staffer: Person
) -> None:
    console.sign_in_as(staffer)
    page = console.get("/console/").get_data(as_text=True)
    for section in NAV:
        assert (f'href="/console{section.path}"' in page) is (not section.admin_only), section
    for path in ADMIN_PAGES:
        assert console.get(f"/console{path}").status_code == 403, path
    for path in STAFF_PAGES:
        assert console.get(f"/console{path}").status_code == 200, path
    refused = console.post(
        "/console/users/invite",
        {"email": "x@okafor.example", "role": "admin"},
        form_page="/console/",
    )
    assert refused.status_code == 403


def test_admins_see_every_entry(console: Console, admin: Person) -> None:
    console.sign_in_as(admin)
    page = console.get("/console/").get_data(as_text=True)
    for section in NAV:
        assert f'href="/console{section.path}"' in page
        assert console.get(f"/console{section.path}").status_code == 200


@pytest.mark.parametrize("action", ["role", "deactivate", "reactivate", "reset-mfa"])
def test_another_firms_users_are_not_found(
    console: Console, admin: Person, other_firm: FirmWithKey, action: str
) -> None:
    stranger = make_person(other_firm, "x@brandt.example")
    console.sign_in_as(admin)
    response = console.post(
        f"/console/users/{stranger.user.id}/{action}",
        {f"u{stranger.user.id}-role": "staff"},
        form_page="/console/users",
    )
    assert response.status_code == 404
    assert stranger.email not in console.get("/console/users").get_data(as_text=True)


def test_a_client_link_session_does_not_open_the_console(
    app: Flask, console: Console, firm: FirmWithKey
) -> None:
    person = factories.client(firm)
    token = links.token_for(factories.link(person, [factories.matter(person)]))
    opened = console.client.get(f"/l/{token}", base_url=BASE_URL)
    assert opened.status_code == 303
    assert console.client.get("/matters", base_url=BASE_URL).status_code == 200
    # the client's session opens no console page
    response = console.get("/console/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/sign-in")


def test_a_console_session_does_not_open_the_client_pages(console: Console, admin: Person) -> None:
    console.sign_in_as(admin)
    assert console.get("/console/").status_code == 200
    assert console.client.get("/matters", base_url=BASE_URL).status_code == 401


def test_the_console_cookie_is_not_sent_to_client_pages(console: Console, admin: Person) -> None:
    console.sign_in_as(admin)
    cookie = console.client.get_cookie("matterpay_console", domain="localhost", path="/console")
    assert cookie is not None and cookie.path == "/console"
