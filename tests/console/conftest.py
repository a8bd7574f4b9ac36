"""Fixtures for the console: staff users with a password and an authenticator, a browser-like
`Console` that signs in through the pages (CSRF tokens included), and a frozen clock."""

from __future__ import annotations

import email
import json
import re
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from portal import clock
from portal.db import db
from portal.firms.models import Firm
from portal.mail.models import OutgoingEmail
from portal.staff import passwords, totp
from portal.staff.models import StaffRole, StaffUser
from tests import factories
from tests.clocks import Clock
from tests.pages.conftest import frozen_clock

#: Console pages are served over HTTPS only (the cookie is Secure), so the tests use it too.
BASE_URL = "https://localhost"
PASSWORD = "harbour lantern violet 42"

__all__ = ["frozen_clock"]

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Person:
    user: StaffUser
    password: str
    #: The TOTP secret (None: no authenticator enrolled).
    secret: str | None

    @property
    def email(self) -> str:
        return self.user.email

    def code(self) -> str:
        """The authenticator's code now (by the portal's clock)."""
        assert self.secret is not None
        return pyotp.TOTP(self.secret).at(clock.now())


def make_person(
    firm: Firm | factories.FirmWithKey, email_address: str, *, role: str = "admin", mfa: bool = True
) -> Person:
    """An active staff user of `firm` (committed within the test's transaction)."""
    firm_id = firm.id
    secret = totp.new_secret() if mfa else None
    user = StaffUser(
        firm_id=firm_id,
        email=email_address,
        role=StaffRole(role),
        password_hash=passwords.hash_password(PASSWORD),
        totp_secret=totp.seal(secret) if secret else None,
        activated_at=clock.now(),
        created_at=clock.now(),
    )
    db.session.add(user)
    db.session.flush()
    return Person(user=user, password=PASSWORD, secret=secret)


class Console:
    """The test client used the way a staff member's browser uses the console."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, path: str) -> TestResponse:
        # Flask-WTF caches the token on `g`, which the tests' app context keeps between
        # requests: a second browser would be handed the first one's token.
        g.pop("csrf_token", None)
        return self.client.get(path, base_url=BASE_URL)

    def csrf(self, path: str = "/console/sign-in") -> str:
        found = _CSRF.search(self.get(path).get_data(as_text=True))
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def post(
        self, path: str, data: dict[str, str], *, form_page: str | None = None
    ) -> TestResponse:
        """Post a form as the browser would: with the CSRF token of the page that shows it."""
        token = self.csrf(form_page or path)
        return self.client.post(
            path,
            data={"csrf_token": token, **data},
            base_url=BASE_URL,
            headers={"Referer": BASE_URL + (form_page or path)},
        )

    def sign_in(self, email_address: str, password: str, code: str = "") -> TestResponse:
        return self.post(
            "/console/sign-in", {"email": email_address, "password": password, "code": code}
        )

    def sign_in_as(self, person: Person) -> TestResponse:
        response = self.sign_in(
            person.email, person.password, person.code() if person.secret else ""
        )
        assert response.status_code == 303, response.get_data(as_text=True)
        return response

    def cookie(self) -> str | None:
        found = self.client.get_cookie("matterpay_console", domain="localhost", path="/console")
        return None if found is None else found.value


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at the smallest cost: the production parameters take ~100 ms a hash."""
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


def invite_by_cli(
    app: Flask, firm_slug: str, email_address: str, role: str = "admin"
) -> dict[str, Any]:
    result = app.test_cli_runner().invoke(
        args=["create-staff", email_address, "--firm", firm_slug, "--role", role, "--json"]
    )
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.output)
    return out


def enrol_through_pages(
    app: Flask, firm_slug: str, email_address: str
) -> tuple[Person, list[str], Console]:
    """Invite someone with the CLI and walk the invitation: password, authenticator, codes."""
    invited = invite_by_cli(app, firm_slug, email_address)
    browser = Console(app.test_client())
    path = invited["invitation_url"].split("://", 1)[1].split("/", 1)[1]
    path = "/" + path
    answer = browser.post(path, {"password": PASSWORD, "confirm": PASSWORD})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    page = browser.get("/console/enrol").get_data(as_text=True)
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page)
    assert secret
    person_secret = secret.group(1).replace(" ", "")
    done = browser.post("/console/enrol", {"code": pyotp.TOTP(person_secret).at(clock.now())})
    assert done.status_code == 200, done.get_data(as_text=True)
    codes = re.findall(
        r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", done.get_data(as_text=True)
    )
    assert len(codes) == 10
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == email_address))
    assert user is not None
    return Person(user=user, password=PASSWORD, secret=person_secret), codes, browser


@pytest.fixture
def console(client: FlaskClient) -> Console:
    return Console(client)


@pytest.fixture
def admin(firm: factories.FirmWithKey, frozen_clock: Clock) -> Person:
    return make_person(firm, "ada@okafor.example")


@pytest.fixture
def staffer(firm: factories.FirmWithKey, frozen_clock: Clock) -> Person:
    return make_person(firm, "sam@okafor.example", role="staff")


def emailed_url(kind: str, path_part: str) -> str:
    """The console address in the newest email of `kind` in the outbox."""
    row = db.session.scalars(
        select(OutgoingEmail).where(OutgoingEmail.kind == kind).order_by(OutgoingEmail.id.desc())
    ).first()
    assert row is not None, f"no {kind} email"
    message = email.message_from_bytes(row.message)
    body = "".join(
        part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart()
    )
    found = re.search(r"https?://\S+" + re.escape(path_part) + r"\S+", body)
    assert found, body
    return found.group(0)
