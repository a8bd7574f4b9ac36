"""Accepting an invitation: a password (argon2id, 12+ characters, not common), an authenticator
(QR code as inline SVG and the secret as text, confirmed with a code), ten recovery codes shown
once and stored hashed; the invitation works once, for 24 hours."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from portal import clock
from portal.db import db
from portal.staff import tokens
from portal.staff.models import RecoveryCode, StaffToken, StaffUser
from tests.clocks import Clock
from tests.console.conftest import (
    PASSWORD,
    Console,
    enrol_through_pages,
    invite_by_cli,
)
from tests.factories import FirmWithKey


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_create_staff_prints_a_single_use_invitation(
    app: Flask, firm: FirmWithKey, frozen_clock: Clock
) -> None:
    out = invite_by_cli(app, firm.firm.slug, "Ada@Okafor.example")
    assert set(out) == {"id", "email", "invitation_url"}
    assert out["email"] == "ada@okafor.example"
    assert out["invitation_url"].startswith("http://localhost/console/invitation/")
    token = out["invitation_url"].rsplit("/", 1)[1]
    # only its digest is kept
    assert db.session.scalar(select(StaffToken.token_hash)) != token
    # a plain run says the same for people
    text = app.test_cli_runner().invoke(
        args=["create-staff", "bo@okafor.example", "--firm", firm.firm.slug, "--role", "staff"]
    )
    assert "/console/invitation/" in text.output and "24 hours" in text.output


def test_create_staff_refuses_an_unknown_firm_and_a_bad_address(
    app: Flask, firm: FirmWithKey
) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["create-staff", "a@b.example", "--firm", "nope"]).exit_code != 0
    bad = runner.invoke(args=["create-staff", "not-an-address", "--firm", firm.firm.slug])
    assert bad.exit_code != 0


def test_the_whole_invitation_walk(app: Flask, firm: FirmWithKey, frozen_clock: Clock) -> None:
    person, codes, browser = enrol_through_pages(app, firm.firm.slug, "rae@okafor.example")
    # the person is in the console straight away, on a renewed session
    assert browser.get("/console/").status_code == 200
    user = db.session.get(StaffUser, person.user.id)
    assert user is not None
    # the password is an argon2id hash; the TOTP secret is stored encrypted
    assert user.password_hash and user.password_hash.startswith("$argon2id$")
    assert user.totp_secret and person.secret and person.secret.encode() not in user.totp_secret
    # the recovery codes are stored as digests only
    stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not set(codes) & set(stored)


def test_the_enrolment_page_shows_a_qr_code_and_the_secret(
    app: Flask, firm: FirmWithKey, frozen_clock: Clock
) -> None:
    out = invite_by_cli(app, firm.firm.slug, "rae@okafor.example")
    browser = Console(app.test_client())
    browser.post(_path(out["invitation_url"]), {"password": PASSWORD, "confirm": PASSWORD})
    page = browser.get("/console/enrol")
    html = page.get_data(as_text=True)
    assert "<svg" in html and "<script" not in html
    assert 'id="totp-secret"' in html
    # a wrong code keeps the person on the page, saying so
    wrong = browser.post("/console/enrol", {"code": "123456"})
    assert wrong.status_code == 422
    assert "That code is not right" in wrong.get_data(as_text=True)
    # and the console stays shut until the authenticator is confirmed
    assert browser.get("/console/").headers["Location"] == "/console/enrol"


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("short pass", "short pass", "at least 12 characters"),
        ("password1234", "password1234", "too common"),
        ("qwertyuiop123", "qwertyuiop123", "too common"),
        ("rae@okafor.example", "rae@okafor.example", "too common"),
        (PASSWORD, PASSWORD + "x", "not the same"),
    ],
)
def test_weak_or_mismatched_passwords_are_refused(
    app: Flask, firm: FirmWithKey, password: str, confirm: str, message: str
) -> None:
    out = invite_by_cli(app, firm.firm.slug, "rae@okafor.example")
    browser = Console(app.test_client())
    answer = browser.post(_path(out["invitation_url"]), {"password": password, "confirm": confirm})
    assert answer.status_code == 422
    assert message in answer.get_data(as_text=True)
    # the invitation still works
    assert browser.get(_path(out["invitation_url"])).status_code == 200


def test_an_invitation_works_once(app: Flask, firm: FirmWithKey, frozen_clock: Clock) -> None:
    out = invite_by_cli(app, firm.firm.slug, "rae@okafor.example")
    path = _path(out["invitation_url"])
    browser = Console(app.test_client())
    assert browser.post(path, {"password": PASSWORD, "confirm": PASSWORD}).status_code == 303
    again = Console(app.test_client())
    gone = again.get(path)
    assert gone.status_code == 410
    assert gone.headers["Referrer-Policy"] == "no-referrer"


def test_an_invitation_expires_after_24_hours(
    app: Flask, firm: FirmWithKey, frozen_clock: Clock
) -> None:
    out = invite_by_cli(app, firm.firm.slug, "rae@okafor.example")
    path = _path(out["invitation_url"])
    browser = Console(app.test_client())
    frozen_clock.advance(hours=23, minutes=59)
    assert browser.get(path).status_code == 200
    frozen_clock.advance(minutes=1)
    assert browser.get(path).status_code == 410
    assert tokens.LIFETIME.total_seconds() == 24 * 3600


def test_a_new_invitation_replaces_the_old_one(
    app: Flask, firm: FirmWithKey, frozen_clock: Clock
) -> None:
    first = invite_by_cli(app, firm.firm.slug, "rae@okafor.example")
    second = invite_by_cli(app, firm.firm.slug, "rae@okafor.example")
    browser = Console(app.test_client())
    assert browser.get(_path(first["invitation_url"])).status_code == 410
    assert browser.get(_path(second["invitation_url"])).status_code == 200


def test_an_account_holder_cannot_be_invited_again(
    app: Flask, firm: FirmWithKey, other_firm: FirmWithKey, frozen_clock: Clock
) -> None:
    enrol_through_pages(app, firm.firm.slug, "rae@okafor.example")
    result = app.test_cli_runner().invoke(
        args=["create-staff", "rae@okafor.example", "--firm", other_firm.firm.slug]
    )
    assert result.exit_code != 0
    assert "already has a console account" in result.output


def test_an_abandoned_enrolment_is_finished_at_the_next_sign_in_where_mfa_is_required(
    app: Flask, firm: FirmWithKey, frozen_clock: Clock
) -> None:
    app.config["CONSOLE_REQUIRE_MFA"] = "on"
    out = invite_by_cli(app, firm.firm.slug, "rae@okafor.example")
    Console(app.test_client()).post(
        _path(out["invitation_url"]), {"password": PASSWORD, "confirm": PASSWORD}
    )
    # the person closed the tab before enrolling; later they sign in with the password
    browser = Console(app.test_client())
    answer = browser.sign_in("rae@okafor.example", PASSWORD, "")
    assert answer.headers["Location"] == "/console/enrol"
    assert browser.get("/console/").headers["Location"] == "/console/enrol"
    page = browser.get("/console/enrol").get_data(as_text=True)
    assert "<svg" in page


def test_the_authenticator_uses_the_clock_of_the_portal(
    app: Flask, firm: FirmWithKey, frozen_clock: Clock
) -> None:
    person, _, _ = enrol_through_pages(app, firm.firm.slug, "rae@okafor.example")
    assert person.secret is not None
    frozen_clock.advance(seconds=30)
    # a code from two steps ago is refused; one step of drift either way is accepted
    old = pyotp.TOTP(person.secret).at(clock.now() - dt.timedelta(seconds=60))
    assert Console(app.test_client()).sign_in(person.email, PASSWORD, old).status_code == 401
    drifted = pyotp.TOTP(person.secret).at(frozen_clock.at.timestamp() + 30)
    assert Console(app.test_client()).sign_in(person.email, PASSWORD, drifted).status_code == 303
