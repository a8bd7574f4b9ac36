"""The webhook routes: endpoints, rotation and pings, the postings queue, the delivery log
and replays."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.db import db
from portal.payments.models import Payment
from portal.postings import delivery as worker
from portal.postings import endpoints, outbox, recording
from portal.postings.models import Delivery, DeliveryStatus, OutboundMessage, WebhookEndpoint
from tests import factories
from tests.api.conftest import pointers
from tests.api.payment_books import make_book
from tests.conftest import APIClient
from tests.payments.conftest import Book, pay
from tests.postings.conftest import free_port

ENDPOINTS = "/api/v1/webhook-endpoints"


@pytest.fixture
def loopback(app: Flask) -> Flask:
    """Let endpoints live on loopback over plain http (no DNS needed), with short timeouts."""
    app.config.update(WEBHOOK_ALLOW_PRIVATE_TARGETS=True, WEBHOOK_TIMEOUT_SECONDS=1)
    return app


def _url() -> str:
    # Nothing listens there: every attempt is refused at once.
    return f"http://127.0.0.1:{free_port()}/hooks"


def _create(api: APIClient, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"url": _url()}
    body.update(changes)
    response = api.post(ENDPOINTS, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _patch(api: APIClient, endpoint_id: str, body: Any) -> Any:
    return api.client.patch(
        f"{ENDPOINTS}/{endpoint_id}", json=body, headers={"Authorization": f"Bearer {api.key}"}
    )


@pytest.fixture
def held_book(session: Session, firm: factories.FirmWithKey) -> Book:
    firm.firm.auto_post = False
    return make_book(firm)


def _held_posting(book: Book) -> OutboundMessage:
    payment = pay(book, invoices={book.old.id: 10_000})
    message = db.session.scalar(
        select(OutboundMessage)
        .where(OutboundMessage.payment_id == payment.id)
        .order_by(OutboundMessage.id.desc())
    )
    assert message is not None
    return message


# Endpoints


def test_registering_shows_the_secret_once(api: APIClient, loopback: Flask) -> None:
    # when
    created = _create(api, event_types=["payment.*"], description="Back office")

    # then
    assert created["id"].startswith("ep_")
    assert created["secret"].startswith("whsec_")
    assert created["event_types"] == ["payment.*"]
    assert (created["description"], created["enabled"]) == ("Back office", True)
    shown = api.get(f"{ENDPOINTS}/{created['id']}").get_json()
    assert "secret" not in shown
    assert shown["url"] == created["url"]


def test_an_unsafe_url_is_a_422_naming_url(api: APIClient) -> None:
    # given: private targets are not allowed (the production setting)
    for url in ("http://127.0.0.1/hooks", "https://127.0.0.1/hooks", "https://user:pw@1.1.1.1/"):
        # when
        response = api.post(ENDPOINTS, json={"url": url})

        # then
        assert response.status_code == 422, url
        assert pointers(response) == ["/url"]
    assert db.session.scalars(select(WebhookEndpoint)).all() == []


@pytest.mark.parametrize(
    "url",
    [
        "https://8.8.8.8/hooks\r\nX-Injected: yes",
        "https://8.8.8.8/ho\u0000oks",
        "https://8.8.8.8/ho\u2028oks",
        "https://8.8.8.8:0/hooks",
        "https://[2002:7f00:1::1]/hooks",
        "https://[2002:a9fe:a9fe::]/latest/meta-data",
    ],
)
def test_a_url_with_control_characters_port_0_or_a_hidden_private_address_is_a_422(
    api: APIClient, url: str
) -> None:
    response = api.post(ENDPOINTS, json={"url": url})
    assert response.status_code == 422, response.get_json()
    assert pointers(response) == ["/url"]
    assert db.session.scalars(select(WebhookEndpoint)).all() == []


def test_the_url_is_stored_in_its_normal_form(api: APIClient, loopback: Flask) -> None:
    port = free_port()
    created = _create(api, url=f"HTTP://127.0.0.1:{port}/Hooks#part")
    assert created["url"] == f"http://127.0.0.1:{port}/Hooks"
    stored = db.session.scalars(select(WebhookEndpoint)).one()
    assert stored.url == f"http://127.0.0.1:{port}/Hooks"
    response = _patch(api, created["id"], {"url": "HTTP://LOCALHOST:80/Other"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["url"] == "http://localhost/Other"
    response = _patch(api, created["id"], {"url": f"http://127.0.0.1:{port}/a\r\nb"})
    assert response.status_code == 422
    assert pointers(response) == ["/url"]


def test_unknown_event_types_and_fields_are_refused(api: APIClient, loopback: Flask) -> None:
    response = api.post(ENDPOINTS, json={"url": _url(), "event_types": ["payment.nope"]})
    assert response.status_code == 422
    assert pointers(response) == ["/event_types/0"]

    response = api.post(ENDPOINTS, json={"url": _url(), "secret": "mine"})
    assert response.status_code == 422
    assert pointers(response) == ["/secret"]


def test_endpoints_are_listed_a_page_at_a_time(api: APIClient, loopback: Flask) -> None:
    # given
    ids = [_create(api)["id"] for _ in range(3)]

    # when
    first = api.get(f"{ENDPOINTS}?limit=2").get_json()
    second = api.get(f"{ENDPOINTS}?limit=2&cursor={first['next_cursor']}").get_json()

    # then
    assert [e["id"] for e in first["data"] + second["data"]] == ids
    assert second["next_cursor"] is None
    assert all("secret" not in e for e in first["data"])


def test_another_firms_endpoint_is_not_found(
    api: APIClient, other_api: APIClient, loopback: Flask
) -> None:
    # given
    theirs = _create(other_api)["id"]

    # then
    assert api.get(f"{ENDPOINTS}/{theirs}").status_code == 404
    assert _patch(api, theirs, {"description": "x"}).status_code == 404
    assert api.delete(f"{ENDPOINTS}/{theirs}").status_code == 404
    assert api.post(f"{ENDPOINTS}/{theirs}/rotate-secret").status_code == 404
    assert api.post(f"{ENDPOINTS}/{theirs}/test").status_code == 404
    assert api.get(ENDPOINTS).get_json()["data"] == []


def test_patch_changes_only_what_is_sent(api: APIClient, loopback: Flask) -> None:
    # given
    created = _create(api, event_types=["ping"], description="old")
    new_url = _url()

    # when
    response = _patch(api, created["id"], {"url": new_url, "description": "new"})

    # then
    assert response.status_code == 200
    body = response.get_json()
    assert (body["url"], body["description"], body["event_types"]) == (new_url, "new", ["ping"])

    # and null event types mean every type
    assert _patch(api, created["id"], {"event_types": None}).get_json()["event_types"] is None


def test_patch_refuses_an_unsafe_url(api: APIClient, loopback: Flask) -> None:
    created = _create(api)
    response = _patch(api, created["id"], {"url": "ftp://example.com/"})
    assert response.status_code == 422
    assert pointers(response) == ["/url"]
    assert api.get(f"{ENDPOINTS}/{created['id']}").get_json()["url"] == created["url"]


def test_disabling_keeps_deliveries_and_enabling_resends_them(
    api: APIClient, loopback: Flask
) -> None:
    # given: a ping waiting for the endpoint
    created = _create(api)
    ping = api.post(f"{ENDPOINTS}/{created['id']}/test").get_json()["message"]

    # when
    off = _patch(api, created["id"], {"enabled": False}).get_json()

    # then
    assert (off["enabled"], off["disabled_reason"]) == (False, "Disabled through the API.")
    delivery = db.session.scalar(select(Delivery))
    assert delivery is not None and delivery.status is DeliveryStatus.DISABLED

    # when
    on = _patch(api, created["id"], {"enabled": True}).get_json()

    # then
    assert on["enabled"] is True
    detail = api.get(f"/api/v1/webhook-messages/{ping}").get_json()
    assert [d["status"] for d in detail["deliveries"]] == ["pending"]


def test_re_enabling_answers_what_was_missed_and_the_since_that_sends_it(
    api: APIClient, firm: factories.FirmWithKey, loopback: Flask
) -> None:
    # given: a paused endpoint, and a posting queued while it was paused
    created = _create(api, event_types=["ping"])
    off = _patch(api, created["id"], {"enabled": False}).get_json()
    assert (off["missed"], off["replay_since"]) == (None, None)
    with db.transaction():  # as the feature that queues it would
        missed = outbox.enqueue(firm_id=firm.firm.id, event_type="ping", data={}).public_id

    # when
    on = _patch(api, created["id"], {"enabled": True}).get_json()

    # then
    assert (on["enabled"], on["missed"]) == (True, 1)
    assert dt.datetime.fromisoformat(on["replay_since"]) == dt.datetime.fromisoformat(
        off["disabled_at"]
    )
    response = api.post(
        f"{ENDPOINTS}/{created['id']}/replay", query_string={"since": on["replay_since"]}
    )
    assert response.get_json()["messages"] == [missed]


def test_deleting_stops_deliveries(api: APIClient, loopback: Flask) -> None:
    # given
    created = _create(api)
    api.post(f"{ENDPOINTS}/{created['id']}/test")

    # when
    response = api.delete(f"{ENDPOINTS}/{created['id']}")

    # then
    assert response.status_code == 204
    assert response.data == b""
    assert api.get(f"{ENDPOINTS}/{created['id']}").status_code == 404
    assert db.session.scalars(select(Delivery)).all() == []
    assert worker.deliver_due("test-worker") == 0


# Rotation and pings


def test_rotating_returns_a_new_secret_and_keeps_the_old_one_a_day(
    api: APIClient, loopback: Flask
) -> None:
    # given
    created = _create(api)

    # when
    response = api.post(f"{ENDPOINTS}/{created['id']}/rotate-secret")

    # then
    assert response.status_code == 200
    body = response.get_json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    expires = dt.datetime.fromisoformat(body["previous_secret_expires_at"])
    assert dt.timedelta(hours=23) < expires - clock.now() <= dt.timedelta(hours=24)
    endpoint = db.session.scalar(select(WebhookEndpoint))
    assert endpoint is not None
    assert endpoints.signing_secrets(endpoint, clock.now()) == [body["secret"], created["secret"]]


def test_a_test_ping_is_queued_for_that_endpoint_only(api: APIClient, loopback: Flask) -> None:
    # given
    first, second = _create(api), _create(api)

    # when
    response = api.post(f"{ENDPOINTS}/{first['id']}/test")

    # then
    assert response.status_code == 202
    message_id = response.get_json()["message"]
    detail = api.get(f"/api/v1/webhook-messages/{message_id}").get_json()
    assert detail["type"] == "ping"
    assert [d["endpoint"] for d in detail["deliveries"]] == [first["id"]]
    assert second["id"] not in str(detail)


# Postings


def test_held_postings_are_listed_and_released(
    api: APIClient, held_book: Book, loopback: Flask
) -> None:
    # given
    endpoint = _create(api)
    message = _held_posting(held_book)

    # when
    held = api.get("/api/v1/postings?status=held").get_json()

    # then
    assert [m["id"] for m in held["data"]] == [message.public_id]
    assert held["data"][0]["type"] == "payment.succeeded"
    payment = db.session.get(Payment, message.payment_id)
    assert payment is not None and held["data"][0]["payment"] == payment.public_id
    assert held["next_cursor"] is None
    assert api.get("/api/v1/postings?status=pending").get_json()["data"] == []

    # when
    response = api.post("/api/v1/postings/release", json={})

    # then
    assert response.status_code == 200
    released = response.get_json()["data"]
    assert [(m["id"], m["status"]) for m in released] == [(message.public_id, "pending")]
    assert api.get("/api/v1/postings?status=held").get_json()["data"] == []
    detail = api.get(f"/api/v1/webhook-messages/{message.public_id}").get_json()
    assert [d["endpoint"] for d in detail["deliveries"]] == [endpoint["id"]]


def test_postings_show_the_payment_and_release_only_the_named(
    api: APIClient, held_book: Book
) -> None:
    # given
    first, second = _held_posting(held_book), _held_posting(held_book)

    # when
    response = api.post("/api/v1/postings/release", json={"messages": [second.public_id]})

    # then
    assert [m["id"] for m in response.get_json()["data"]] == [second.public_id]
    listed = api.get("/api/v1/postings").get_json()["data"]
    assert [(m["id"], m["status"]) for m in listed] == [
        (first.public_id, "held"),
        (second.public_id, "pending"),
    ]
    assert all(m["payment"] for m in listed)


def test_postings_refuse_an_unknown_status(api: APIClient) -> None:
    response = api.get("/api/v1/postings?status=lost")
    assert response.status_code == 422


# The delivery log and replays


def test_a_message_shows_its_attempts(api: APIClient, loopback: Flask) -> None:
    # given: one failed attempt (nothing listens)
    created = _create(api)
    ping = api.post(f"{ENDPOINTS}/{created['id']}/test").get_json()["message"]
    assert worker.deliver_due("test-worker") == 1

    # when
    response = api.get(f"/api/v1/webhook-messages/{ping}")

    # then
    assert response.status_code == 200
    (delivery,) = response.get_json()["deliveries"]
    (attempt,) = delivery["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"]
    assert attempt["latency_ms"] >= 0
    assert set(attempt) == {"attempted_at", "status_code", "error", "latency_ms", "response"}


def test_another_firms_message_is_not_found(
    api: APIClient, other_api: APIClient, loopback: Flask
) -> None:
    theirs = _create(other_api)
    ping = other_api.post(f"{ENDPOINTS}/{theirs['id']}/test").get_json()["message"]
    assert api.get(f"/api/v1/webhook-messages/{ping}").status_code == 404
    assert api.post(f"/api/v1/webhook-messages/{ping}/replay").status_code == 404


def _fail_for_good(message_public_id: str) -> None:
    for delivery in db.session.scalars(select(Delivery)):
        if delivery.message.public_id == message_public_id:
            delivery.status = DeliveryStatus.FAILED
            delivery.attempts = recording.MAX_ATTEMPTS


def test_replaying_a_message_queues_it_again_with_the_same_id(
    api: APIClient, loopback: Flask
) -> None:
    # given: a ping that failed for good
    created = _create(api)
    ping = api.post(f"{ENDPOINTS}/{created['id']}/test").get_json()["message"]
    _fail_for_good(ping)

    # when
    response = api.post(f"/api/v1/webhook-messages/{ping}/replay")

    # then
    assert response.status_code == 202
    assert response.get_json() == {"message": ping, "endpoints": [created["id"]]}
    detail = api.get(f"/api/v1/webhook-messages/{ping}").get_json()
    assert detail["status"] == "pending"
    assert [d["status"] for d in detail["deliveries"]] == ["pending"]
    assert worker.deliver_due("test-worker") == 1


def test_replaying_a_posting_reaches_every_enabled_endpoint_that_wants_it(
    api: APIClient, held_book: Book, loopback: Flask
) -> None:
    # given: a released posting; then two more endpoints, one not wanting payments
    first = _create(api)
    message = _held_posting(held_book)
    api.post("/api/v1/postings/release", json={})
    later = _create(api, event_types=["payment.*"])
    _create(api, event_types=["ping"])
    paused = _create(api)
    _patch(api, paused["id"], {"enabled": False})

    # when
    response = api.post(f"/api/v1/webhook-messages/{message.public_id}/replay")

    # then
    assert response.get_json()["endpoints"] == [first["id"], later["id"]]
    detail = api.get(f"/api/v1/webhook-messages/{message.public_id}").get_json()
    assert sorted(d["endpoint"] for d in detail["deliveries"]) == sorted([first["id"], later["id"]])


def test_a_held_posting_cannot_be_replayed(api: APIClient, held_book: Book) -> None:
    message = _held_posting(held_book)
    response = api.post(f"/api/v1/webhook-messages/{message.public_id}/replay")
    assert response.status_code == 409


def test_replaying_to_an_endpoint_since_a_time(
    api: APIClient, held_book: Book, loopback: Flask
) -> None:
    # given: an old ping, then a posting; a new endpoint that got neither
    old = _create(api)
    api.post(f"{ENDPOINTS}/{old['id']}/test")
    message = _held_posting(held_book)
    api.post("/api/v1/postings/release", json={})
    new = _create(api)
    since = (message.created_at - dt.timedelta(seconds=1)).isoformat()

    # when
    response = api.post(f"{ENDPOINTS}/{new['id']}/replay", query_string={"since": since})

    # then: the posting goes to it; the other endpoint's ping does not
    assert response.status_code == 202
    assert response.get_json() == {
        "messages": [message.public_id],
        "queued": 1,
        "capped": False,
        "next_since": None,
    }
    detail = api.get(f"/api/v1/webhook-messages/{message.public_id}").get_json()
    assert new["id"] in [d["endpoint"] for d in detail["deliveries"]]


def test_replay_since_needs_an_instant_with_an_offset(api: APIClient, loopback: Flask) -> None:
    created = _create(api)
    for query in ({}, {"since": "yesterday"}, {"since": "2026-01-01T00:00:00"}):
        response = api.post(f"{ENDPOINTS}/{created['id']}/replay", query_string=query)
        assert response.status_code == 422, query


def test_replay_since_reaches_back_no_further_than_the_retention_period(
    api: APIClient, loopback: Flask
) -> None:
    created = _create(api)
    too_old = clock.now() - dt.timedelta(days=30, minutes=1)
    response = api.post(
        f"{ENDPOINTS}/{created['id']}/replay", query_string={"since": too_old.isoformat()}
    )
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert "30 days" in problem["detail"]
    assert [error["parameter"] for error in problem["errors"]] == ["since"]
    # a longer retention reaches further back
    loopback.config["WEBHOOK_RETENTION_DAYS"] = 60
    response = api.post(
        f"{ENDPOINTS}/{created['id']}/replay", query_string={"since": too_old.isoformat()}
    )
    assert response.status_code == 202


def test_replay_since_queues_at_most_the_limit_and_says_where_to_go_on(
    api: APIClient, loopback: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given three pings to one endpoint, and a limit of two per call
    created = _create(api)
    pings = [api.post(f"{ENDPOINTS}/{created['id']}/test").get_json()["message"] for _ in range(3)]
    monkeypatch.setattr(outbox, "REPLAY_LIMIT", 2)
    since = (clock.now() - dt.timedelta(minutes=1)).isoformat()

    # when
    response = api.post(f"{ENDPOINTS}/{created['id']}/replay", query_string={"since": since})

    # then the first two are queued, and the answer says it stopped at the third
    assert response.status_code == 202
    body = response.get_json()
    assert body["messages"] == pings[:2]
    assert (body["queued"], body["capped"]) == (2, True)
    third = db.session.scalars(
        select(OutboundMessage).where(OutboundMessage.public_id == pings[2])
    ).one()
    assert dt.datetime.fromisoformat(body["next_since"]) == third.created_at
    # and going on from there reaches the third
    again = api.post(
        f"{ENDPOINTS}/{created['id']}/replay", query_string={"since": body["next_since"]}
    ).get_json()
    assert pings[2] in again["messages"]
    assert again["capped"] is False
