"""Reloading the page that answers "Create key" (which sends the form again), a double click,
or the same form racing itself makes one key: the form's one-time token finds the key it made,
and the secret is not shown a second time."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from portal.audit.models import AuditEvent
from portal.audit.services import CLI
from portal.db import db
from portal.firms import keys
from portal.firms.models import APIKey
from tests import factories
from tests.console.conftest import BASE_URL, Console, Person

PAGE = "/console/api-keys"


def once(console: Console) -> str:
    """The one-time token of the key form, as the browser has it from the page."""
    html = console.get(PAGE).get_data(as_text=True)
    found = re.search(r'name="once" type="hidden" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _create(console: Console, token: str, label: str = "Back office sync") -> TestResponse:
    return console.client.post(
        PAGE,
        data={
            "csrf_token": console.csrf(PAGE),
            "label": label,
            "scopes": ["sync"],
            "once": token,
        },
        base_url=BASE_URL,
        headers={"Referer": BASE_URL + PAGE},
    )


def _issued(label: str) -> list[APIKey]:
    return list(db.session.scalars(select(APIKey).where(APIKey.label == label)))


def test_sending_the_same_form_again_makes_no_second_key(console: Console, admin: Person) -> None:
    console.sign_in_as(admin)
    token = once(console)
    first = _create(console, token)
    assert first.status_code == 201
    assert 'id="new-key-secret"' in first.get_data(as_text=True)
    # the answer carries a new token for the next key
    assert f'value="{token}"' not in first.get_data(as_text=True)

    # the browser's reload sends the same form, token and all
    again = _create(console, token)

    assert again.status_code == 200
    html = again.get_data(as_text=True)
    assert 'id="new-key-secret"' not in html
    assert 'id="key-made-before"' in html and "no other key was made" in html
    (key,) = _issued("Back office sync")
    assert f"{key.prefix}…" in html
    issued = db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "api_key.issued", AuditEvent.actor_kind == "staff")
    )
    assert issued == 1
    # a fresh token (a new visit to the page) makes a second key
    assert _create(console, once(console)).status_code == 201
    assert len(_issued("Back office sync")) == 2


@pytest.mark.parametrize("token", ["", "short", "x" * 65, "not a token!!!!!!!!"])
def test_a_form_without_a_good_token_makes_nothing(
    console: Console, admin: Person, token: str
) -> None:
    console.sign_in_as(admin)
    refused = _create(console, token, label="No token")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "The form had expired. Please send it again." in html
    assert 'value="No token"' in html  # what was typed is kept
    assert not _issued("No token")
    # the page comes back with a usable token: sending it now works
    fresh = _create(console, once(console), label="No token")
    assert fresh.status_code == 201


@pytest.fixture
def committed(committed_app: Flask) -> Iterator[tuple[Flask, int]]:
    with committed_app.app_context():
        with db.transaction():
            firm = factories.firm_with_key("Race & Co")
        db.session.commit()
        yield committed_app, firm.id


def test_the_same_form_racing_itself_makes_one_key(committed: tuple[Flask, int]) -> None:
    app, firm_id = committed
    token = secrets.token_urlsafe(24)
    start = threading.Barrier(4)

    def run(_: int) -> str | None:
        with app.app_context():
            start.wait()
            created = keys.create_key(
                firm_id, label="Raced", scopes=["sync"], actor=CLI, once=token
            )
            secret = created.secret
            return secret

    with ThreadPoolExecutor(4) as pool:
        secrets_shown = list(pool.map(run, range(4)))

    assert len([s for s in secrets_shown if s is not None]) == 1
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(APIKey).where(APIKey.label == "Raced")
        )
        assert count == 1
