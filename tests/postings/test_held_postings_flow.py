"""Through the API alone: a firm sets its operating account's ledger code, transaction type and
bank account, its A/R message and time zone, and turns automatic posting off; takes a sandbox
card payment at 23:30 in New York (04:30 the next day in UTC), sees its posting held, turns
automatic posting on (which releases nothing and says what is held), releases it, and its
receiver gets the posting carrying exactly those values and New York's date, verified with
the `standardwebhooks` library."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask

from portal.payments.models import Payment
from tests import factories
from tests.api.payment_books import make_book
from tests.clocks import freeze
from tests.conftest import APIClient
from tests.payments.conftest import pay
from tests.postings.conftest import Receiver, deliver_all


def patch(api: APIClient, body: Any) -> Any:
    return api.client.patch(
        "/api/v1/firm", json=body, headers={"Authorization": f"Bearer {api.key}"}
    )


#: 23:30 on December 2 in New York is 04:30 on December 3 in UTC.
LATE_IN_NEW_YORK = dt.datetime(2026, 12, 3, 4, 30, tzinfo=dt.UTC)


def test_a_held_posting_waits_for_release_and_carries_the_firms_settings(
    app: Flask,
    api: APIClient,
    firm: factories.FirmWithKey,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: the firm's receiver, its posting defaults, A/R message, zone, automatic posting off
    app.config.update(WEBHOOK_ALLOW_PRIVATE_TARGETS=True, WEBHOOK_TIMEOUT_SECONDS=2)
    created = api.post("/api/v1/webhook-endpoints", json={"url": receiver.url})
    assert created.status_code == 201
    receiver.secrets.append(created.get_json()["secret"])
    accounts = api.get("/api/v1/merchant-accounts").get_json()["data"]
    (operating,) = [a for a in accounts if a["kind"] == "operating"]
    codes = {"ledger_code": "4010", "transaction_type": "Card receipt", "bank_account_code": "OP-2"}
    changed = api.client.patch(
        f"/api/v1/merchant-accounts/{operating['id']}",
        json=codes,
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert changed.status_code == 200, changed.get_json()
    settings = patch(
        api,
        {
            "ar_message": "Okafor portal receipt",
            "auto_post": False,
            "time_zone": "America/New_York",
        },
    )
    assert settings.status_code == 200
    assert settings.get_json()["held_postings"] == 0

    # when: a client pays an invoice by card in the sandbox
    book = make_book(firm)
    with monkeypatch.context() as late:
        freeze(late, LATE_IN_NEW_YORK)
        payment: Payment = pay(book, invoices={book.old.id: 120_000})
    # (the real clock again: receivers check a signature's age against their own)

    # then: its posting is held, and nothing goes out
    held = api.get("/api/v1/postings?status=held").get_json()["data"]
    assert [(m["type"], m["payment"]) for m in held] == [("payment.succeeded", payment.public_id)]
    assert deliver_all() == 0
    assert receiver.received == []
    shown = api.get("/api/v1/firm").get_json()
    assert shown["held_postings"] == 1
    assert "held until released" in shown["held_notice"]

    # when: automatic posting is turned on again
    turned_on = patch(api, {"auto_post": True})

    # then: nothing is released silently; the answer says what waits
    body = turned_on.get_json()
    assert (body["auto_post"], body["held_postings"]) == (True, 1)
    assert "1 payment posting is still held" in body["held_notice"]
    assert "/postings/release" in body["held_notice"]
    assert deliver_all() == 0
    assert receiver.received == []

    # when: the firm releases it
    released = api.post("/api/v1/postings/release", json={})
    assert [m["id"] for m in released.get_json()["data"]] == [held[0]["id"]]
    deliver_all()

    # then: the receiver got it, signed, with the firm's A/R message
    (arrived,) = receiver.received
    assert arrived.accepted_by == receiver.secrets
    assert arrived.payload is not None
    assert arrived.msg_id == held[0]["id"]
    assert arrived.payload["type"] == "payment.succeeded"
    data = arrived.payload["data"]
    assert data["ar_message"] == "Okafor portal receipt"
    assert {name: data["account"][name] for name in codes} == codes
    assert data["account"]["kind"] == "operating"
    # the day is New York's, not UTC's
    assert (data["transaction_date"], data["posting_date"]) == ("2026-12-02", "2026-12-02")
    assert api.get("/api/v1/firm").get_json()["held_postings"] == 0
    assert api.get("/api/v1/firm").get_json()["held_notice"] is None
