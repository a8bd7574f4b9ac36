"""Signing in to the console: one message for every failure, lock-out, the per-IP limit, the
session's id, idle and absolute expiry, sign-out here and everywhere, codes used once."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from portal.db import db
from portal.staff.models import StaffSession, StaffUser
from tests.clocks import Clock
from tests.console.conftest import BASE_URL, Console, Person, enrol_through_pages, make_person
from tests.factories import FirmWithKey

WRONG = "Email, password or code is wrong."


def test_email_password_and_code_sign_in_and_open_the_dashboard(
    console: Console, admin: Person
) -> None:
    # when the admin signs in with all three
    response = console.sign_in(admin.email, admin.password, admin.code())
    # then the console opens, on a cookie of its own scoped to /console
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/"
    header = response.headers["Set-Cookie"]
    assert header.startswith("matterpay_console=")
    assert "HttpOnly" in header and "Path=/console" in header and "SameSite=Lax" in header
    page = console.get("/console/").get_data(as_text=True)
    assert "Dashboard" in page and admin.email in page
    # and only a digest of the cookie's id is stored
    cookie = console.cookie()
    assert cookie is not None
    assert db.session.scalar(select(StaffSession.token_hash)) != cookie


@pytest.mark.parametrize(
    ("email", "password", "code"),
    [
        ("nobody@okafor.example", "harbour lantern violet 42", "right"),
        ("ada@okafor.example", "wrong password here", "right"),
        ("ada@okafor.example", "harbour lantern violet 42", "000000"),
        ("ada@okafor.example", "harbour lantern violet 42", ""),
    ],
)
def test_every_failure_gets_the_same_answer(
    console: Console, admin: Person, email: str, password: str, code: str
) -> None:
    response = console.sign_in(email, password, admin.code() if code == "right" else code)
    assert response.status_code == 401
    assert WRONG in response.get_data(as_text=True)
    assert console.cookie() is None


def test_five_failures_lock_the_account_for_fifteen_minutes(
    console: Console, admin: Person, frozen_clock: Clock
) -> None:
    for _ in range(5):
        assert console.sign_in(admin.email, "not the password!", "").status_code == 401
    # the right password and code are now refused too, with the same words
    refused = console.sign_in(admin.email, admin.password, admin.code())
    assert refused.status_code == 401
    assert WRONG in refused.get_data(as_text=True)
    # 14 minutes on: still locked
    frozen_clock.advance(minutes=14)
    assert console.sign_in(admin.email, admin.password, admin.code()).status_code == 401
    # 15 minutes after the lock: open again
    frozen_clock.advance(minutes=1, seconds=1)
    assert console.sign_in(admin.email, admin.password, admin.code()).status_code == 303


def test_a_lock_ends_the_sessions_the_account_had(
    app: Flask, console: Console, admin: Person, frozen_clock: Clock
) -> None:
    console.sign_in_as(admin)
    attacker = Console(app.test_client())
    for _ in range(5):
        attacker.sign_in(admin.email, "guessing guessing", "")
    assert console.get("/console/").status_code == 302


def test_sign_in_attempts_are_limited_per_ip(app: Flask, console: Console, admin: Person) -> None:
    app.config["RATELIMIT_CONSOLE_SIGN_IN"] = "3 per minute"
    environ = {"REMOTE_ADDR": "203.0.113.77"}
    console.client.environ_base.update(environ)
    for n in range(3):
        assert console.sign_in(f"nobody{n}@example.com", "whatever it is", "").status_code == 401
    assert console.sign_in(admin.email, admin.password, admin.code()).status_code == 429


def test_signing_in_gives_a_new_session_id_and_ends_the_old_one(
    console: Console, admin: Person, frozen_clock: Clock
) -> None:
    console.sign_in_as(admin)
    first = console.cookie()
    frozen_clock.advance(seconds=30)  # a fresh code: one code works once
    console.sign_in_as(admin)
    second = console.cookie()
    assert first and second and first != second
    rows = db.session.scalars(select(StaffSession).order_by(StaffSession.id)).all()
    assert [row.ended_at is not None for row in rows] == [True, False]


def test_a_code_is_accepted_once(app: Flask, console: Console, admin: Person) -> None:
    code = admin.code()
    assert console.sign_in(admin.email, admin.password, code).status_code == 303
    other = Console(app.test_client())
    assert other.sign_in(admin.email, admin.password, code).status_code == 401


def test_a_recovery_code_signs_in_once(app: Flask, firm: FirmWithKey, frozen_clock: Clock) -> None:
    # given a person who enrolled through the pages and kept their recovery codes
    person, codes, _ = enrol_through_pages(app, firm.firm.slug, "rae@okafor.example")
    fresh = Console(app.test_client())
    # when they sign in with a recovery code instead of the app's code
    assert fresh.sign_in(person.email, person.password, codes[3].upper()).status_code == 303
    # then that code is spent
    again = Console(app.test_client())
    assert again.sign_in(person.email, person.password, codes[3]).status_code == 401
    assert again.sign_in(person.email, person.password, codes[4]).status_code == 303


def test_thirty_idle_minutes_end_the_session(
    console: Console, admin: Person, frozen_clock: Clock
) -> None:
    console.sign_in_as(admin)
    frozen_clock.advance(minutes=29)
    assert console.get("/console/").status_code == 200  # a request keeps it alive
    frozen_clock.advance(minutes=29)
    assert console.get("/console/").status_code == 200
    frozen_clock.advance(minutes=30)
    response = console.get("/console/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/sign-in")


def test_twelve_hours_end_the_session_however_busy(
    console: Console, admin: Person, frozen_clock: Clock
) -> None:
    console.sign_in_as(admin)
    for _ in range(28):  # 28 x 25 minutes = 11 h 40 min
        frozen_clock.advance(minutes=25)
        assert console.get("/console/").status_code == 200
    frozen_clock.advance(minutes=21)
    assert console.get("/console/").status_code == 302


def test_sign_out_ends_the_session_on_the_server(console: Console, admin: Person) -> None:
    console.sign_in_as(admin)
    stolen = console.cookie()
    response = console.post("/console/sign-out", {}, form_page="/console/")
    assert response.status_code == 303
    # the old id no longer opens anything, even if it was copied
    console.client.set_cookie(
        "matterpay_console", stolen or "", domain="localhost", path="/console"
    )
    assert console.get("/console/").status_code == 302


def test_sign_out_everywhere_ends_every_session(
    app: Flask, console: Console, admin: Person, frozen_clock: Clock
) -> None:
    console.sign_in_as(admin)
    laptop = Console(app.test_client())
    frozen_clock.advance(seconds=30)
    laptop.sign_in_as(admin)
    response = laptop.post("/console/sign-out-everywhere", {}, form_page="/console/")
    assert response.status_code == 303
    assert console.get("/console/").status_code == 302
    assert laptop.get("/console/").status_code == 302


def test_a_deactivated_user_cannot_sign_in(console: Console, admin: Person) -> None:
    make_person(admin.user.firm, "other-admin@okafor.example")
    user = db.session.get(StaffUser, admin.user.id)
    assert user is not None
    user.deactivated_at = user.created_at
    response = console.sign_in(admin.email, admin.password, admin.code())
    assert response.status_code == 401
    assert WRONG in response.get_data(as_text=True)


def test_signed_out_pages_redirect_to_sign_in_and_back(console: Console, admin: Person) -> None:
    response = console.get("/console/users")
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/sign-in?next=/console/users"
    signed = console.post(
        "/console/sign-in?next=/console/users",
        {
            "email": admin.email,
            "password": admin.password,
            "code": admin.code(),
            "next": "/console/users",
        },
    )
    assert signed.headers["Location"] == "/console/users"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/matters"])
def test_sign_in_never_leads_off_the_console(console: Console, admin: Person, target: str) -> None:
    response = console.post(
        "/console/sign-in",
        {"email": admin.email, "password": admin.password, "code": admin.code(), "next": target},
    )
    assert response.headers["Location"] == "/console/"


def test_the_sign_in_page_works_over_https_with_csp(console: Console) -> None:
    response = console.get("/console/sign-in")
    assert response.status_code == 200
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    assert BASE_URL.startswith("https")
