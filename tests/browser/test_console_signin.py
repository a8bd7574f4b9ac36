"""A new admin in a real browser: the invitation from `create-staff`, a password, the
authenticator (its code computed here with pyotp), the recovery codes, then signing out and in
again with email, password and code."""

from __future__ import annotations

import json
import time
from typing import Any

import pyotp
from playwright.sync_api import expect

from portal.db import db
from tests import factories
from tests.browser.conftest import LiveServer

PASSWORD = "harbour lantern violet 42"


def test_invitation_password_authenticator_codes_and_sign_in(
    page: Any, live_server: LiveServer
) -> None:
    # given a firm and its first admin's invitation, from the command line
    with live_server.app.app_context():
        firm = factories.firm_with_key("Okafor & Lindqvist LLP").firm
        db.session.commit()
        result = live_server.app.test_cli_runner().invoke(
            args=["create-staff", "ada@okafor.example", "--firm", firm.slug, "--json"]
        )
    assert result.exit_code == 0, (result.output, result.exception)
    invitation = json.loads(result.output)["invitation_url"]
    assert invitation.startswith(live_server.url + "/console/invitation/")

    # when the admin opens it and chooses a password
    page.goto(invitation)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a password")
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("The new password again").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()

    # then the authenticator step shows a QR code and the secret as text
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up your authenticator")
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)
    page.get_by_label("The 6-digit code your app shows").fill(totp.now())
    page.get_by_role("button", name="Confirm").click()

    # then ten recovery codes, shown once
    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name="I have saved them: open the console").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.get_by_role("navigation", name="Console")).to_contain_text("Users")

    # when they sign out and back in with email, password and a fresh code
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to the console")
    page.get_by_label("Email", exact=True).fill("ada@okafor.example")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    # The enrolment spent this 30-second step's code; the next step's is accepted (one step of
    # drift either way is), so the test need not wait for the clock.
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(
        totp.at(time.time() + 30)
    )
    page.get_by_role("button", name="Sign in").click()

    # then the console opens again
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    assert page.url == live_server.url + "/console/"
    assert not page.watch.console_errors and not page.watch.page_errors
    assert not page.watch.foreign_requests(live_server.url)
