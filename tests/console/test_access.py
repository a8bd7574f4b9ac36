"""Who sees which console page, beyond what the route walk (test_route_walk.py: every route
signed out → sign-in, `staff` on an admin route → 403, another firm's ids → 404) checks: the
navigation each role is shown and the pages it opens, another firm's users never listed, and
the console's session and a client's link session never opening each other's pages."""

from __future__ import annotations

from flask import Flask

from portal.console.pages import NAV
from portal.links import services as links
from tests import factories
from tests.console.conftest import BASE_URL, Console, Person, make_person
from tests.factories import FirmWithKey

STAFF_PAGES = [s.path for s in NAV if not s.admin_only]


def test_staff_see_no_admin_entries_and_open_every_other_page(
    console: Console, staffer: Person
) -> None:
    console.sign_in_as(staffer)
    page = console.get("/console/").get_data(as_text=True)
    for section in NAV:
        assert (f'href="/console{section.path}"' in page) is (not section.admin_only), section
    for path in STAFF_PAGES:
        assert console.get(f"/console{path}").status_code == 200, path


def test_admins_see_every_entry(console: Console, admin: Person) -> None:
    console.sign_in_as(admin)
    page = console.get("/console/").get_data(as_text=True)
    for section in NAV:
        assert f'href="/console{section.path}"' in page
        assert console.get(f"/console{section.path}").status_code == 200


def test_another_firms_users_are_not_listed(
    console: Console, admin: Person, other_firm: FirmWithKey
) -> None:
    stranger = make_person(other_firm, "x@brandt.example")
    console.sign_in_as(admin)
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
