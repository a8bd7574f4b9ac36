"""A forgotten password: an emailed link (single use, 24 hours) that still asks for the
authenticator's code, and signs the person out everywhere."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from portal.db import db
from portal.mail.models import OutgoingEmail
from tests.clocks import Clock
from tests.console.conftest import Console, Person, emailed_url

NEW = "copper meadow tandem 77"


def _ask(app: Flask, email: str) -> str:
    browser = Console(app.test_client())
    answer = browser.post("/console/forgot", {"email": email})
    assert answer.status_code == 200
    assert "If that address has a console account" in answer.get_data(as_text=True)
    url = emailed_url("staff_password_reset", "/console/reset/")
    return "/" + url.split("/", 3)[3]


def test_a_reset_asks_for_the_code_and_signs_out_everywhere(
    app: Flask, console: Console, admin: Person, frozen_clock: Clock
) -> None:
    console.sign_in_as(admin)
    path = _ask(app, admin.email)
    browser = Console(app.test_client())
    page = browser.get(path)
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    # without the code it is refused, with the sign-in's words
    frozen_clock.advance(seconds=30)
    refused = browser.post(path, {"password": NEW, "confirm": NEW, "code": "000000"})
    assert refused.status_code == 401
    assert "Email, password or code is wrong." in refused.get_data(as_text=True)
    # with it the password changes and every session ends
    done = browser.post(path, {"password": NEW, "confirm": NEW, "code": admin.code()})
    assert done.status_code == 303 and done.headers["Location"] == "/console/sign-in"
    assert console.get("/console/").status_code == 302
    frozen_clock.advance(seconds=30)
    assert browser.sign_in(admin.email, admin.password, admin.code()).status_code == 401
    frozen_clock.advance(seconds=30)
    assert browser.sign_in(admin.email, NEW, admin.code()).status_code == 303
    # and the link is spent
    assert Console(app.test_client()).get(path).status_code == 410


def test_a_reset_link_lasts_24_hours(app: Flask, admin: Person, frozen_clock: Clock) -> None:
    path = _ask(app, admin.email)
    frozen_clock.advance(hours=24)
    assert Console(app.test_client()).get(path).status_code == 410


def test_a_weak_new_password_is_refused_and_the_link_still_works(
    app: Flask, admin: Person, frozen_clock: Clock
) -> None:
    path = _ask(app, admin.email)
    browser = Console(app.test_client())
    answer = browser.post(
        path, {"password": "password1234", "confirm": "password1234", "code": admin.code()}
    )
    assert answer.status_code == 422
    assert "too common" in answer.get_data(as_text=True)
    assert browser.get(path).status_code == 200


def test_an_unknown_address_gets_the_same_answer_and_no_email(app: Flask, admin: Person) -> None:
    browser = Console(app.test_client())
    answer = browser.post("/console/forgot", {"email": "nobody@okafor.example"})
    assert answer.status_code == 200
    assert "If that address has a console account" in answer.get_data(as_text=True)
    assert db.session.scalar(select(OutgoingEmail)) is None


def test_asking_again_replaces_the_earlier_link(
    app: Flask, admin: Person, frozen_clock: Clock
) -> None:
    first = _ask(app, admin.email)
    second = _ask(app, admin.email)
    browser = Console(app.test_client())
    assert browser.get(first).status_code == 410
    assert browser.get(second).status_code == 200
