"""Signatures: what we send is exactly what the Standard Webhooks library accepts."""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from portal.postings import signing

BODY = '{"id":"msg_x","type":"ping","data":{}}'


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_new_secrets_are_whsec_and_24_random_bytes() -> None:
    first, second = signing.new_secret(), signing.new_secret()
    assert first.startswith("whsec_")
    assert second.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 24
    assert first != second


def test_the_library_verifies_our_headers_and_rejects_a_changed_body() -> None:
    # given
    secret = signing.new_secret()
    headers = signing.headers(
        [secret], msg_id="msg_2p7X9aQ4LmN8bV3cR5tY1wZ0", sent_at=_now(), body=BODY
    )
    # then
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert re.fullmatch(r"\d+", headers["webhook-timestamp"])
    assert re.fullmatch(r"v1,[A-Za-z0-9+/=]+", headers["webhook-signature"])
    assert Webhook(secret).verify(BODY, headers) == {"id": "msg_x", "type": "ping", "data": {}}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("ping", "pong"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(BODY, headers)


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    new, old = signing.new_secret(), signing.new_secret()
    headers = signing.headers([new, old], msg_id="msg_abc", sent_at=_now(), body=BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(BODY, headers)
    assert Webhook(old).verify(BODY, headers)


def test_a_stale_timestamp_is_refused_by_the_receiver() -> None:
    secret = signing.new_secret()
    old = signing.headers(
        [secret], msg_id="msg_abc", sent_at=_now() - dt.timedelta(minutes=6), body=BODY
    )
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, old)


def test_signing_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        signing.headers(
            [signing.new_secret()],
            msg_id="msg_abc",
            sent_at=dt.datetime(2026, 1, 1),  # noqa: DTZ001 (a naive time is what is refused)
            body=BODY,
        )
