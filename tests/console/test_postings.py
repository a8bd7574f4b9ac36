"""The console's Postings page: held postings released, failed ones replayed, each endpoint with
its delivery log, a test ping, and (admins) register, rotate, disable/enable with what was
missed, delete; role gates and another firm's ids."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.audit.services import SYSTEM
from portal.db import db
from portal.postings import endpoints
from portal.postings.models import MessageStatus, OutboundMessage, WebhookEndpoint
from tests import factories
from tests.api.payment_books import make_book
from tests.clocks import Clock
from tests.console.conftest import Console, Person, make_person
from tests.payments.conftest import Book, pay
from tests.postings.conftest import free_port

PAGE = "/console/postings"


@pytest.fixture
def loopback(app: Flask) -> Flask:
    """Endpoints may live on loopback over plain http (nothing listens there)."""
    app.config.update(WEBHOOK_ALLOW_PRIVATE_TARGETS=True, WEBHOOK_TIMEOUT_SECONDS=1)
    return app


@pytest.fixture
def held_book(firm: factories.FirmWithKey, frozen_clock: Clock) -> Book:
    firm.firm.auto_post = False
    return make_book(firm)


def _held(book: Book) -> OutboundMessage:
    payment = pay(book, invoices={book.old.id: 10_000})
    message = db.session.scalar(
        select(OutboundMessage)
        .where(OutboundMessage.payment_id == payment.id)
        .order_by(OutboundMessage.id.desc())
    )
    assert message is not None and message.status is MessageStatus.HELD
    return message


def _endpoint(firm: factories.FirmWithKey) -> WebhookEndpoint:
    return endpoints.create_endpoint(
        firm_id=firm.id,
        url=f"http://127.0.0.1:{free_port()}/hooks",
        description="Back office",
        event_types=None,
        actor=SYSTEM,
    )


def test_the_page_shows_held_failed_and_endpoints(
    console: Console, staffer: Person, held_book: Book, loopback: Flask, firm: factories.FirmWithKey
) -> None:
    held = _held(held_book)
    failed = _held(held_book)
    failed.status = MessageStatus.FAILED
    endpoint = _endpoint(firm)
    db.session.flush()
    console.sign_in_as(staffer)

    page = console.get(PAGE)

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert held.public_id in html and failed.public_id in html
    assert endpoint.url in html and "Send a test ping" in html
    # a staff user sees no management buttons
    assert "Rotate the secret" not in html and "Register an endpoint" not in html


def test_releasing_the_ticked_postings(console: Console, staffer: Person, held_book: Book) -> None:
    first, second = _held(held_book), _held(held_book)
    console.sign_in_as(staffer)

    response = console.post(f"{PAGE}/release", {"message": first.public_id}, form_page=PAGE)

    assert response.status_code == 303
    db.session.refresh(first)
    db.session.refresh(second)
    assert first.status is MessageStatus.PENDING and first.released_at is not None
    assert second.status is MessageStatus.HELD
    assert "1 posting(s) released" in console.get(PAGE).get_data(as_text=True)
    # nothing ticked: the page says so
    nothing = console.post(f"{PAGE}/release", {}, form_page=PAGE)
    assert nothing.status_code == 422
    assert "Tick at least one posting" in nothing.get_data(as_text=True)
    # a NUL in an id is "nothing ticked", never a database error
    nul = console.post(f"{PAGE}/release", {"message": "msg_\x00"}, form_page=PAGE)
    assert nul.status_code == 422
    # release all
    assert console.post(f"{PAGE}/release", {"all": "1"}, form_page=PAGE).status_code == 303
    db.session.refresh(second)
    assert second.status is MessageStatus.PENDING


def test_replaying_a_failed_posting(
    console: Console, staffer: Person, held_book: Book, loopback: Flask, firm: factories.FirmWithKey
) -> None:
    message = _held(held_book)
    message.status = MessageStatus.FAILED
    message.released_at = message.created_at
    endpoint = _endpoint(firm)
    db.session.flush()
    console.sign_in_as(staffer)

    response = console.post(f"{PAGE}/messages/{message.public_id}/replay", {}, form_page=PAGE)

    assert response.status_code == 303
    db.session.refresh(message)
    assert message.status is MessageStatus.PENDING
    assert [d.endpoint_id for d in message.deliveries] == [endpoint.id]
    assert "queued again for 1 endpoint(s)" in console.get(PAGE).get_data(as_text=True)


def test_a_held_posting_is_not_replayed(console: Console, staffer: Person, held_book: Book) -> None:
    message = _held(held_book)
    console.sign_in_as(staffer)
    response = console.post(f"{PAGE}/messages/{message.public_id}/replay", {}, form_page=PAGE)
    assert response.status_code == 409
    assert "release it instead" in response.get_data(as_text=True)


def test_a_test_ping(
    console: Console, staffer: Person, loopback: Flask, firm: factories.FirmWithKey
) -> None:
    endpoint = _endpoint(firm)
    console.sign_in_as(staffer)

    response = console.post(f"{PAGE}/endpoints/{endpoint.public_id}/ping", {}, form_page=PAGE)

    assert response.status_code == 303
    ping = db.session.scalar(select(OutboundMessage).where(OutboundMessage.type == "ping"))
    assert ping is not None and ping.endpoint_id == endpoint.id
    html = console.get(PAGE).get_data(as_text=True)
    assert f"Test ping {ping.public_id} queued" in html
    assert "Not tried yet" in html  # the delivery log shows the ping waiting


def test_rotating_shows_the_new_secret_once(
    console: Console, admin: Person, loopback: Flask, firm: factories.FirmWithKey
) -> None:
    endpoint = _endpoint(firm)
    old = endpoint.secret
    console.sign_in_as(admin)

    response = console.post(f"{PAGE}/endpoints/{endpoint.public_id}/rotate", {}, form_page=PAGE)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    db.session.refresh(endpoint)
    assert endpoint.secret != old
    assert endpoint.secret in response.get_data(as_text=True)
    assert "The previous secret also signs until" in response.get_data(as_text=True)
    assert endpoint.secret not in console.get(PAGE).get_data(as_text=True)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action.like("%secret_rotated%")))
    assert event is not None and (event.actor_kind, event.actor_id) == ("staff", str(admin.user.id))


def test_enabling_shows_what_was_missed_and_sends_it(
    console: Console, admin: Person, held_book: Book, loopback: Flask, firm: factories.FirmWithKey
) -> None:
    endpoint = _endpoint(firm)
    console.sign_in_as(admin)
    disabled = console.post(f"{PAGE}/endpoints/{endpoint.public_id}/disable", {}, form_page=PAGE)
    assert disabled.status_code == 303
    db.session.refresh(endpoint)
    assert endpoint.disabled_at is not None
    message = _held(held_book)
    assert console.post(f"{PAGE}/release", {"all": "1"}, form_page=PAGE).status_code == 303

    enabled = console.post(f"{PAGE}/endpoints/{endpoint.public_id}/enable", {}, form_page=PAGE)

    assert enabled.status_code == 200
    html = enabled.get_data(as_text=True)
    assert "1 message was missed while disabled." in html
    since = re.search(r'name="since" value="([^"]+)"', html)
    assert since
    sent = console.post(
        f"{PAGE}/endpoints/{endpoint.public_id}/send-missed",
        {"since": since.group(1)},
        form_page=PAGE,
    )
    assert sent.status_code == 303
    db.session.refresh(message)
    assert [d.endpoint_id for d in message.deliveries] == [endpoint.id]
    assert "1 message(s) queued" in console.get(PAGE).get_data(as_text=True)
    # a missing `since` comes back with a message, not a 500
    bad = console.post(
        f"{PAGE}/endpoints/{endpoint.public_id}/send-missed", {"since": "yesterday"}, form_page=PAGE
    )
    assert bad.status_code == 422


def test_registering_and_deleting_an_endpoint(
    console: Console, admin: Person, loopback: Flask, firm: factories.FirmWithKey
) -> None:
    console.sign_in_as(admin)
    url = f"http://127.0.0.1:{free_port()}/hooks"
    created = console.post(
        f"{PAGE}/endpoints", {"url": url, "description": "Books"}, form_page=PAGE
    )
    assert created.status_code == 200
    endpoint = db.session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.firm_id == firm.id))
    assert endpoint is not None and endpoint.secret in created.get_data(as_text=True)
    deleted = console.post(f"{PAGE}/endpoints/{endpoint.public_id}/delete", {}, form_page=PAGE)
    assert deleted.status_code == 303
    assert (
        db.session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.firm_id == firm.id)) is None
    )


def test_a_bad_url_comes_back_next_to_the_field(console: Console, admin: Person) -> None:
    console.sign_in_as(admin)
    response = console.post(
        f"{PAGE}/endpoints", {"url": "http://10.0.0.1/x", "description": "Mine"}, form_page=PAGE
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "This URL cannot receive postings" in html
    assert 'value="http://10.0.0.1/x"' in html and 'value="Mine"' in html


def test_signed_out_is_sent_to_sign_in(console: Console) -> None:
    assert console.get(PAGE).status_code == 302
    response = console.post(f"{PAGE}/release", {"all": "1"}, form_page="/console/sign-in")
    assert response.status_code == 302


def test_staff_cannot_manage_endpoints(
    console: Console, staffer: Person, loopback: Flask, firm: factories.FirmWithKey
) -> None:
    endpoint = _endpoint(firm)
    console.sign_in_as(staffer)
    for action in ("rotate", "disable", "enable", "delete", "send-missed"):
        path = f"{PAGE}/endpoints/{endpoint.public_id}/{action}"
        assert console.post(path, {}, form_page=PAGE).status_code == 403, action
    assert (
        console.post(f"{PAGE}/endpoints", {"url": "https://x.example"}, form_page=PAGE).status_code
        == 403
    )


def test_another_firms_ids_are_not_found(
    console: Console,
    loopback: Flask,
    firm: factories.FirmWithKey,
    other_firm: factories.FirmWithKey,
    held_book: Book,
    frozen_clock: Clock,
) -> None:
    endpoint = _endpoint(firm)
    message = _held(held_book)
    stranger = make_person(other_firm, "eve@brandt.example")
    console.sign_in_as(stranger)
    for action in ("ping", "rotate", "disable", "enable", "delete", "send-missed"):
        path = f"{PAGE}/endpoints/{endpoint.public_id}/{action}"
        assert console.post(path, {}, form_page=PAGE).status_code == 404, action
    assert (
        console.post(f"{PAGE}/messages/{message.public_id}/replay", {}, form_page=PAGE).status_code
        == 404
    )
    # releasing another firm's posting by id changes nothing
    assert (
        console.post(f"{PAGE}/release", {"message": message.public_id}, form_page=PAGE).status_code
        == 303
    )
    db.session.refresh(message)
    assert message.status is MessageStatus.HELD
    assert message.public_id not in console.get(PAGE).get_data(as_text=True)
